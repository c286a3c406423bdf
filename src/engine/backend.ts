import { existsSync } from 'node:fs';
import { describeNativeSource, PACKAGES } from '../native/libtensorflow';
import { tf } from './tf';

/** Backends in order of preference: native GPU, native CPU, WebAssembly, pure JavaScript. */
export const BACKEND_PREFERENCE = ['node-gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_PREFERENCE)[number];

/** How to get the native backends, for every message that mentions their absence. */
export const NATIVE_HINT = 'npm run native installs native TensorFlow (see npm run doctor)';

export interface BackendSelection {
  /** Our name for it (node-gpu, node, wasm, cpu). */
  name: BackendChoice;
  /** The backend name tfjs reports (tensorflow, wasm, cpu). */
  tfjsName: string;
  /** Why each better backend was passed over, for the log. */
  skipped: string[];
  /** What actually computes: "GPU", "CPU" or, for the GPU build without a GPU, says so. */
  device: string;
  /** Native only: the TensorFlow version and where its library came from. */
  tensorflow?: { version: string; source: string };
}

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

/** The NVIDIA kernel driver is loaded: the only case where the GPU build can beat the CPU build. */
export function nvidiaDriverPresent(): boolean {
  return existsSync('/proc/driver/nvidia/version');
}

/** Loads the module that registers a backend; returns the tfjs backend name or throws why not. */
function register(choice: BackendChoice, auto: boolean): string {
  switch (choice) {
    case 'node-gpu':
      // Both native packages register 'tensorflow' and cannot share a process, so in auto mode
      // the GPU build is only tried where it can use a GPU; otherwise the CPU build is as fast.
      if (auto && !nvidiaDriverPresent()) throw new Error('no NVIDIA driver loaded');
      quietTensorFlowLogs();
      require(PACKAGES.gpu);
      return 'tensorflow';
    case 'node':
      quietTensorFlowLogs();
      require(PACKAGES.cpu);
      return 'tensorflow';
    case 'wasm':
      require('@tensorflow/tfjs-backend-wasm');
      return 'wasm';
    case 'cpu':
      return 'cpu';
  }
}

/** TensorFlow's C++ start-up notices would land in the middle of our output; warnings still show. */
function quietTensorFlowLogs(): void {
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
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
    `unknown backend "${value}": use one of auto, ${BACKEND_PREFERENCE.join(', ')} ({backend} or STARRY_BACKEND)`,
  );
}

interface NativeBinding {
  isUsingGpuDevice?: boolean;
  binding?: { TF_Version?: string };
}

function describe(choice: BackendChoice, tfjsName: string, skipped: string[]): BackendSelection {
  if (choice !== 'node' && choice !== 'node-gpu') return { name: choice, tfjsName, skipped, device: 'CPU, one thread' };
  const native = tf.backend() as unknown as NativeBinding;
  const onGpu = native.isUsingGpuDevice === true;
  const device = onGpu ? 'GPU' : choice === 'node-gpu' ? 'CPU (GPU build, but TensorFlow found no usable GPU: see docs/gpu.md)' : 'CPU';
  return {
    name: choice,
    tfjsName,
    skipped,
    device,
    tensorflow: {
      version: native.binding?.TF_Version ?? 'unknown',
      source: describeNativeSource(choice === 'node' ? PACKAGES.cpu : PACKAGES.gpu),
    },
  };
}

/**
 * Picks the fastest backend that actually initialises here. With an explicit choice, that one
 * or a clear error — never a silent fallback the user did not ask for.
 */
export async function selectBackend(preference: BackendChoice | 'auto' = 'auto'): Promise<BackendSelection> {
  const auto = preference === 'auto';
  const candidates = auto ? [...BACKEND_PREFERENCE] : [preference];
  const skipped: string[] = [];
  for (const choice of candidates) {
    try {
      const tfjsName = register(choice, auto);
      if (!(await tf.setBackend(tfjsName))) throw new Error('failed to initialise');
      await tf.ready();
      return describe(choice, tfjsName, skipped);
    } catch (err) {
      skipped.push(`${choice}: ${shortReason(err)}`);
    }
  }
  throw new BackendUnavailableError(
    `no usable tfjs backend (${skipped.join('; ')}). ` + (auto ? 'Reinstall dependencies with npm ci.' : 'Pick another with {backend}.'),
  );
}

/** One line for logs: which backend runs, on what, and why faster ones were passed over. */
export function describeSelection(s: BackendSelection): string {
  const native = s.tensorflow ? `, TensorFlow ${s.tensorflow.version} from ${s.tensorflow.source}` : '';
  const slow = s.name === 'wasm' || s.name === 'cpu' ? `; 30-70x slower than native: ${NATIVE_HINT}` : '';
  return `tfjs backend: ${s.name} (${s.device}${native})` + (s.skipped.length ? ` — skipped ${s.skipped.join('; ')}` : '') + slow;
}
