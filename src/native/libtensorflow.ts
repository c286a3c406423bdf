/**
 * Where native TensorFlow comes from when `@tensorflow/tfjs-node`'s own download host is out of
 * reach: the libtensorflow that PyPI's TensorFlow wheels carry. Shared by the installer (which
 * fetches and builds) and the engine and `doctor` (which report what was built and from where).
 * No Temporal, tfjs or engine imports: this runs at `npm ci` time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type NativeVariant = 'cpu' | 'gpu';

/** The tfjs-node release our engine is written against (package.json pins the same). */
export const TFJS_NODE_VERSION = '4.22.0';

/** The TensorFlow release whose C library we build the addon against. */
export const TENSORFLOW_VERSION = '2.21.0';

export interface WheelPin {
  /** PyPI project name, fetched with pip by name (so a configured mirror or proxy is honoured). */
  project: string;
  file: string;
  sha256: string;
  /** pip's target flags: the wheel is chosen by file, not by the Python running the installer. */
  python: string;
  platform: string;
}

/**
 * One pinned wheel per variant, verified by sha256 after download. The C library inside does not
 * depend on the Python version; pinning one file keeps every machine on the same bits.
 */
export const WHEELS: Record<NativeVariant, WheelPin> = {
  cpu: {
    project: 'tensorflow-cpu',
    file: `tensorflow_cpu-${TENSORFLOW_VERSION}-cp311-cp311-manylinux_2_27_x86_64.whl`,
    sha256: '2b847d217b02ee7731ed91431daf3250daa0196c3c94614d23be27232e6e5b6c',
    python: '3.11',
    platform: 'manylinux_2_27_x86_64',
  },
  gpu: {
    project: 'tensorflow',
    file: `tensorflow-${TENSORFLOW_VERSION}-cp311-cp311-manylinux_2_27_x86_64.whl`,
    sha256: '9056fbc9ba04235810b71ae6cbd958a196e8804fb53bbcffbf3e23b56155f124',
    python: '3.11',
    platform: 'manylinux_2_27_x86_64',
  },
};

export const PACKAGES: Record<NativeVariant, string> = {
  cpu: '@tensorflow/tfjs-node',
  gpu: '@tensorflow/tfjs-node-gpu',
};

/** Written into the built package so the engine and `doctor` can say where TensorFlow came from. */
export const MANIFEST_FILE = 'starry-native.json';

export interface NativeManifest {
  package: string;
  variant: NativeVariant;
  tensorflow: string;
  /** e.g. "PyPI tensorflow-cpu 2.21.0 (tensorflow_cpu-….whl, sha256 …)". */
  source: string;
  /** The cached directory holding lib/ and include/ (and nvidia/ for the GPU variant). */
  libraryDir: string;
  /** CUDA libraries: "pypi" (nvidia-*-cu12 wheels in libraryDir/nvidia), "system", or absent for CPU. */
  cuda?: 'pypi' | 'system';
  builtFor: { node: string; napi: string };
}

/** Directory of an installed package, or undefined where it is not installed. */
export function packageDir(name: string): string | undefined {
  try {
    return join(require.resolve(`${name}/package.json`), '..');
  } catch {
    return undefined;
  }
}

/** What our installer recorded in an installed native package; undefined for tfjs-node's own install. */
export function readManifest(name: string): NativeManifest | undefined {
  const dir = packageDir(name);
  if (!dir) return undefined;
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as NativeManifest;
  } catch {
    return undefined;
  }
}

/** One line for logs and `doctor`: where the native library of `name` came from. */
export function describeNativeSource(name: string): string {
  const manifest = readManifest(name);
  if (manifest) return `${manifest.source}, addon built by npm ci`;
  return packageDir(name) ? "tfjs-node's own libtensorflow download" : 'not installed';
}
