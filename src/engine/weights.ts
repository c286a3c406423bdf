import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { VGG19_CONV_NAMES } from './vgg19-architecture';

export interface ConvWeights {
  /** Keras HWIO layout: [3, 3, inChannels, outChannels]. */
  kernel: Float32Array;
  kernelShape: [number, number, number, number];
  bias: Float32Array;
}

export type VggWeights = Map<string, ConvWeights>;

export class WeightsError extends Error {
  override name = 'WeightsError';
}

type H5Module = typeof import('h5wasm/node', { with: { 'resolution-mode': 'import' } });
let h5Ready: Promise<H5Module> | undefined;

function loadH5(): Promise<H5Module> {
  // h5wasm ships as ESM only; the dynamic import keeps this module loadable from CommonJS.
  h5Ready ??= import('h5wasm/node').then(async (mod) => {
    const h5 = ((mod as unknown as { default?: H5Module }).default ?? mod) as H5Module;
    await h5.ready;
    return h5;
  });
  return h5Ready;
}

function stringList(value: unknown): string[] {
  if (value == null) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map(String);
  return [String(value)];
}

/**
 * Reads the conv kernels and biases of a Keras VGG19 weights file (the legacy `save_weights`
 * HDF5 layout that `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` uses). Names come from the
 * `layer_names` and `weight_names` attributes, because Keras versions name datasets differently
 * (`block1_conv1_W_1:0` in the official file, `block1_conv1/kernel:0` in newer saves).
 */
export async function readVggWeights(path: string): Promise<VggWeights> {
  if (!existsSync(path)) throw new WeightsError(`weights file "${path}" does not exist`);
  if (!(await hasHdf5Signature(path))) throw notVgg(path, 'not an HDF5 file');
  const h5 = await loadH5();
  const file = new h5.File(path, 'r');
  try {
    const layerNames = stringList(file.attrs['layer_names']?.value);
    if (layerNames.length === 0) throw notVgg(path, 'it has no "layer_names" attribute, so it is not a Keras weights file');
    const weights: VggWeights = new Map();
    let inChannels = 3;
    for (const name of VGG19_CONV_NAMES) {
      if (!layerNames.includes(name)) throw notVgg(path, `layer "${name}" is missing`);
      const group = file.get(name) as InstanceType<H5Module['Group']> | null;
      if (!group) throw notVgg(path, `layer "${name}" is listed but has no group`);
      const weightNames = stringList(group.attrs['weight_names']?.value);
      const datasets = weightNames.map((w) => group.get(w) as InstanceType<H5Module['Dataset']> | null);
      const kernelSet = datasets.find((d) => d?.shape?.length === 4);
      const biasSet = datasets.find((d) => d?.shape?.length === 1);
      if (!kernelSet || !biasSet) throw notVgg(path, `layer "${name}" lacks a 4-D kernel and a 1-D bias`);
      const shape = kernelSet.shape as [number, number, number, number];
      if (shape[0] !== 3 || shape[1] !== 3 || shape[2] !== inChannels || biasSet.shape![0] !== shape[3]) {
        throw notVgg(
          path,
          `layer "${name}" has kernel ${JSON.stringify(shape)} and bias [${biasSet.shape}], expected [3,3,${inChannels},N] and [N]`,
        );
      }
      weights.set(name, {
        kernel: Float32Array.from(kernelSet.value as ArrayLike<number>),
        kernelShape: shape,
        bias: Float32Array.from(biasSet.value as ArrayLike<number>),
      });
      inChannels = shape[3];
    }
    return weights;
  } catch (err) {
    if (err instanceof WeightsError) throw err;
    throw notVgg(path, `it could not be read as HDF5 (${(err as Error).message})`);
  } finally {
    file.close();
  }
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

async function hasHdf5Signature(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    await handle.read(head, 0, 8, 0);
    return head.equals(HDF5_SIGNATURE);
  } finally {
    await handle.close();
  }
}

function notVgg(path: string, why: string): WeightsError {
  return new WeightsError(
    `"${path}" is not a VGG19 weights file: ${why}. Use Keras' vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 ` +
      `(or leave out {weights} to download it).`,
  );
}
