/**
 * The backends the engine tests run on. wasm and cpu are always there; the native backend (`node`)
 * joins them wherever it is installed, and wherever it must be (CI, or STARRY_REQUIRE_NATIVE=1):
 * there a failed native install fails the tests instead of quietly testing less.
 */
import { packageDir, PACKAGES } from '../../src/native/libtensorflow';

export type TestedBackend = 'wasm' | 'cpu' | 'node';

export function nativeRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.STARRY_REQUIRE_NATIVE === '1' || env.CI === 'true';
}

export function nativeInstalled(): boolean {
  return packageDir(PACKAGES.cpu) !== undefined;
}

/** Why the node backend is left out of this run, or undefined when it is tested. */
export function nativeSkipReason(): string | undefined {
  if (nativeInstalled() || nativeRequired()) return undefined;
  return '@tensorflow/tfjs-node is not installed here (npm run native); CI requires it';
}

/** Every backend the engine tests should cover on this machine. */
export function engineBackends(): TestedBackend[] {
  return nativeSkipReason() ? ['wasm', 'cpu'] : ['wasm', 'cpu', 'node'];
}
