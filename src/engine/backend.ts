import { tf } from './tf';

/** Backends in order of preference: native GPU, native CPU, WebAssembly, pure JavaScript. */
export const BACKEND_PREFERENCE = ['node-gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_PREFERENCE)[number];

export interface BackendSelection {
  /** Our name for it (node-gpu, node, wasm, cpu). */
  name: BackendChoice;
  /** The backend name tfjs reports (tensorflow, wasm, cpu). */
  tfjsName: string;
  /** Why each better backend was passed over, for the log. */
  skipped: string[];
}

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

/** Loads the module that registers a backend; returns the tfjs backend name or throws why not. */
async function register(choice: BackendChoice): Promise<string> {
  switch (choice) {
    case 'node-gpu':
      // Both native packages register the backend as 'tensorflow'.
      require('@tensorflow/tfjs-node-gpu');
      return 'tensorflow';
    case 'node':
      require('@tensorflow/tfjs-node');
      return 'tensorflow';
    case 'wasm':
      require('@tensorflow/tfjs-backend-wasm');
      return 'wasm';
    case 'cpu':
      return 'cpu';
  }
}

function shortReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/Cannot find module/.test(msg)) return 'not installed';
  return msg.split('\n')[0].slice(0, 160);
}

export function parseBackendChoice(value: string | undefined): BackendChoice | 'auto' {
  const v = (value ?? 'auto').trim().toLowerCase();
  if (v === 'auto' || v === '') return 'auto';
  if ((BACKEND_PREFERENCE as readonly string[]).includes(v)) return v as BackendChoice;
  throw new BackendUnavailableError(
    `unknown backend "${value}": use one of auto, ${BACKEND_PREFERENCE.join(', ')} (--backend or STARRY_BACKEND)`,
  );
}

/**
 * Picks the fastest backend that actually initialises here. With an explicit choice, that one
 * or a clear error — never a silent fallback the user did not ask for.
 */
export async function selectBackend(preference: BackendChoice | 'auto' = 'auto'): Promise<BackendSelection> {
  const candidates = preference === 'auto' ? [...BACKEND_PREFERENCE] : [preference];
  const skipped: string[] = [];
  for (const choice of candidates) {
    try {
      const tfjsName = await register(choice);
      if (!(await tf.setBackend(tfjsName))) throw new Error('failed to initialise');
      await tf.ready();
      return { name: choice, tfjsName, skipped };
    } catch (err) {
      skipped.push(`${choice}: ${shortReason(err)}`);
    }
  }
  throw new BackendUnavailableError(
    `no usable tfjs backend (${skipped.join('; ')}). ` +
      (preference === 'auto' ? 'Reinstall dependencies with npm ci.' : 'Pick another with --backend.'),
  );
}
