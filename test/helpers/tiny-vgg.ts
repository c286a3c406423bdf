/**
 * Test helper: the narrow, formula-weighted VGG19 used by test/reference/golden.json.
 *
 * Real ImageNet weights cannot be downloaded in CI, so the golden numbers in
 * test/reference/golden.json were produced by real Keras/TensorFlow
 * (test/reference/keras_reference.py) on a VGG19-shaped network with narrow
 * widths and deterministic weights. This module reproduces those weights and
 * input images bit for bit (float64 Math.sin/Math.cos/Math.sqrt evaluated in
 * the same order as the Python script, then rounded to float32), and can write
 * them as an HDF5 file in the layout of Keras' legacy `save_weights` /
 * the official `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`.
 *
 * Formulas (l = 0..15 is the conv index in network order):
 *   kernel[l] shape [3,3,cin,cout] (HWIO), flat C-order index i:
 *       float32(2.0 * sin(0.91*i + 1.3*l) / sqrt(9*cin))
 *   bias[l]   shape [cout], index j:  float32(0.25 + 0.05 * cos(0.5*j + l))
 *   content image [1,20,24,3], index i: float32(0.5 + 0.4*sin(0.3*i))
 *   style image   [1,18,16,3], index i: float32(0.5 + 0.45*cos(0.21*i + 0.5))
 *   gram test input [1,2,3,4],  index i: float32(sin(0.7*i))
 * Widths (output channels per block): 4, 6, 8, 8, 8.
 */

type H5Module = typeof import('h5wasm/node', { with: { 'resolution-mode': 'import' } });
type H5Api = H5Module['default'];
type H5Group = InstanceType<H5Api['Group']>;

/** Convs per VGG19 block. */
export const VGG19_BLOCK_CONVS: readonly number[] = [2, 2, 4, 4, 4];
/** The real VGG19 widths, for reference. */
export const VGG19_WIDTHS: readonly number[] = [64, 128, 256, 512, 512];
/** The narrow widths the golden data uses. */
export const TINY_VGG_WIDTHS: readonly number[] = [4, 6, 8, 8, 8];

export const CONTENT_IMAGE_SHAPE: readonly [number, number, number, number] = [1, 20, 24, 3];
export const STYLE_IMAGE_SHAPE: readonly [number, number, number, number] = [1, 18, 16, 3];

export interface TinyVggConv {
  /** conv index in network order, 0..15 */
  l: number;
  /** e.g. "block3_conv2" */
  name: string;
  /** 1-based block number */
  block: number;
  /** 1-based conv number inside the block */
  conv: number;
  cin: number;
  cout: number;
}

/** The 16 conv layers of VGG19 (without top) for the given widths (default: the narrow ones). */
export function tinyVggLayerSpec(widths: readonly number[] = TINY_VGG_WIDTHS): TinyVggConv[] {
  if (widths.length !== 5) throw new Error(`widths must have 5 entries (one per block), got ${widths.length}`);
  const spec: TinyVggConv[] = [];
  let cin = 3;
  let l = 0;
  VGG19_BLOCK_CONVS.forEach((n, b) => {
    for (let c = 0; c < n; c++) {
      const cout = widths[b];
      spec.push({ l, name: `block${b + 1}_conv${c + 1}`, block: b + 1, conv: c + 1, cin, cout });
      cin = cout;
      l++;
    }
  });
  return spec;
}

/** All Keras layer names of VGG19 without top, in order: input_1, convs and the 5 pools. */
export function vgg19LayerNames(): string[] {
  const names = ['input_1'];
  VGG19_BLOCK_CONVS.forEach((n, b) => {
    for (let c = 0; c < n; c++) names.push(`block${b + 1}_conv${c + 1}`);
    names.push(`block${b + 1}_pool`);
  });
  return names;
}

/** Kernel of conv l, shape [3,3,cin,cout] flattened in C order (HWIO, as Keras stores it). */
export function tinyVggKernel(l: number, cin: number, cout: number): Float32Array {
  const n = 9 * cin * cout;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2.0 * Math.sin(0.91 * i + 1.3 * l)) / Math.sqrt(9 * cin);
  return out;
}

/** Bias of conv l, shape [cout]. */
export function tinyVggBias(l: number, cout: number): Float32Array {
  const out = new Float32Array(cout);
  for (let j = 0; j < cout; j++) out[j] = 0.25 + 0.05 * Math.cos(0.5 * j + l);
  return out;
}

/** Content image [1,h,w,3] (golden data uses h=20, w=24), flat NHWC. */
export function contentImageFormula(h: number, w: number): Float32Array {
  const n = h * w * 3;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.5 + 0.4 * Math.sin(0.3 * i);
  return out;
}

/** Style image [1,h,w,3] (golden data uses h=18, w=16), flat NHWC. */
export function styleImageFormula(h: number, w: number): Float32Array {
  const n = h * w * 3;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.5 + 0.45 * Math.cos(0.21 * i + 0.5);
  return out;
}

/** Input of the golden `gram` case: n elements sin(0.7*i) (golden uses [1,2,3,4], n = 24). */
export function gramInputFormula(n = 24): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(0.7 * i);
  return out;
}

export type VggH5Layout = 'legacy' | 'keras2';

export interface WriteVggH5Options {
  /** output channels per block, 5 entries; default the narrow TINY_VGG_WIDTHS */
  widths?: readonly number[];
  /** kernel generator, must return 9*cin*cout values (HWIO, C order); default tinyVggKernel */
  kernel?: (l: number, cin: number, cout: number) => Float32Array;
  /** bias generator, must return cout values; default tinyVggBias */
  bias?: (l: number, cout: number) => Float32Array;
  /**
   * 'legacy' (default): like the official vgg19 notop file — datasets
   *     `block1_conv1/block1_conv1_W_1:0` and `block1_conv1/block1_conv1_b_1:0`.
   * 'keras2': like Keras 2 `save_weights` to .h5 — datasets
   *     `block1_conv1/block1_conv1/kernel:0` and `block1_conv1/block1_conv1/bias:0`,
   *     weight_names `block1_conv1/kernel:0`, `block1_conv1/bias:0`.
   */
  layout?: VggH5Layout;
}

let h5Ready: Promise<H5Api> | undefined;

/** h5wasm is ESM only; a dynamic import keeps this helper usable from CommonJS. */
export function loadH5wasm(): Promise<H5Api> {
  h5Ready ??= import('h5wasm/node').then(async (mod) => {
    await mod.default.ready;
    return mod.default;
  });
  return h5Ready;
}

/** Fixed-length ASCII string attribute (like h5py writes a numpy bytes array). */
function stringListAttr(target: H5Group, name: string, values: readonly string[]): void {
  if (values.length === 0) {
    // Keras/h5py write an empty list as an empty float64 array; the official file has that for
    // input_1 and the pool layers.
    target.create_attribute(name, new Float64Array(0), [0], '<d');
    return;
  }
  const len = Math.max(...values.map((v) => Buffer.byteLength(v, 'utf8'))) + 1;
  target.create_attribute(name, [...values], [values.length], `A${len}`);
}

function stringAttr(target: H5Group, name: string, value: string): void {
  target.create_attribute(name, value, null, `A${Buffer.byteLength(value, 'utf8') + 1}`);
}

/**
 * Writes a VGG19-without-top weights file in Keras' legacy HDF5 layout:
 * root attributes `layer_names` (input_1, every conv and every pool), `backend` = "tensorflow",
 * `keras_version` = "2.x"; one group per layer with attribute `weight_names` (empty for input_1
 * and the pools) and the kernel [3,3,cin,cout] / bias [cout] float32 datasets.
 */
export async function writeVggH5(path: string, options: WriteVggH5Options = {}): Promise<void> {
  const widths = options.widths ?? TINY_VGG_WIDTHS;
  const kernelOf = options.kernel ?? tinyVggKernel;
  const biasOf = options.bias ?? tinyVggBias;
  const layout = options.layout ?? 'legacy';
  const convs = new Map(tinyVggLayerSpec(widths).map((c) => [c.name, c]));

  const h5 = await loadH5wasm();
  const file = new h5.File(path, 'w');
  try {
    const layerNames = vgg19LayerNames();
    stringListAttr(file, 'layer_names', layerNames);
    stringAttr(file, 'backend', 'tensorflow');
    stringAttr(file, 'keras_version', '2.x');
    for (const name of layerNames) {
      const group = file.create_group(name);
      const conv = convs.get(name);
      if (!conv) {
        stringListAttr(group, 'weight_names', []);
        continue;
      }
      const { l, cin, cout } = conv;
      const kernel = kernelOf(l, cin, cout);
      const bias = biasOf(l, cout);
      if (kernel.length !== 9 * cin * cout) {
        throw new Error(`kernel generator gave ${kernel.length} values for ${name}, expected ${9 * cin * cout}`);
      }
      if (bias.length !== cout) throw new Error(`bias generator gave ${bias.length} values for ${name}, expected ${cout}`);

      let holder: H5Group;
      let kernelName: string;
      let biasName: string;
      let weightNames: string[];
      if (layout === 'legacy') {
        holder = group;
        kernelName = `${name}_W_1:0`;
        biasName = `${name}_b_1:0`;
        weightNames = [kernelName, biasName];
      } else {
        holder = group.create_group(name);
        kernelName = 'kernel:0';
        biasName = 'bias:0';
        weightNames = [`${name}/kernel:0`, `${name}/bias:0`];
      }
      stringListAttr(group, 'weight_names', weightNames);
      holder.create_dataset({ name: kernelName, data: kernel, shape: [3, 3, cin, cout], dtype: '<f' });
      holder.create_dataset({ name: biasName, data: bias, shape: [cout], dtype: '<f' });
    }
  } finally {
    file.close();
  }
}
