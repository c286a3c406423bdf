import { tf } from './tf';
import { VGG19_LAYERS, layerIndex } from './vgg19-architecture';
import type { VggWeights } from './weights';

/**
 * VGG19 feature extractor. Kernels live on the backend for the model's lifetime (loaded once per
 * worker, not per frame as the seed did); `extract` stops at the deepest layer it is asked for.
 */
export class Vgg19 {
  private readonly convs: Map<string, { kernel: tf.Tensor4D; bias: tf.Tensor1D }>;

  private constructor(convs: Map<string, { kernel: tf.Tensor4D; bias: tf.Tensor1D }>) {
    this.convs = convs;
  }

  static fromWeights(weights: VggWeights): Vgg19 {
    const convs = new Map<string, { kernel: tf.Tensor4D; bias: tf.Tensor1D }>();
    for (const [name, w] of weights) {
      convs.set(name, {
        kernel: tf.keep(tf.tensor4d(w.kernel, w.kernelShape)),
        bias: tf.keep(tf.tensor1d(w.bias)),
      });
    }
    return new Vgg19(convs);
  }

  /** Channels each conv layer produces, in file order. */
  get widths(): Record<string, number> {
    return Object.fromEntries([...this.convs].map(([name, c]) => [name, c.kernel.shape[3]]));
  }

  /** Kernel and bias of every conv layer from the first up to `layer`, in network order. */
  convsUpTo(layer: string): Array<{ kernel: tf.Tensor4D; bias: tf.Tensor1D }> {
    const last = layerIndex(layer);
    return VGG19_LAYERS.slice(0, last + 1)
      .filter((l) => l.kind !== 'pool')
      .map((l) => this.convs.get(l.name)!);
  }

  /**
   * Features of the named layers for an already preprocessed NHWC batch. Call inside tf.tidy.
   * With `release`, each activation nobody asked for is freed as soon as the next layer has used
   * it — for targets, where no gradient needs them: at 1024 px that is over a gigabyte less at peak.
   * Without it every activation lives until the tidy ends, as a gradient tape needs.
   */
  extract(preprocessed: tf.Tensor4D, layers: readonly string[], opts: { release?: boolean } = {}): Record<string, tf.Tensor4D> {
    const wanted = new Set(layers);
    const last = Math.max(...layers.map(layerIndex));
    const out: Record<string, tf.Tensor4D> = {};
    let x = preprocessed;
    for (const layer of VGG19_LAYERS.slice(0, last + 1)) {
      const input = x;
      if (layer.kind === 'pool') {
        x = tf.maxPool(x, 2, 2, 'valid');
      } else {
        const conv = this.convs.get(layer.name)!;
        x = tf.tidy(() => tf.relu(tf.add(tf.conv2d(input, conv.kernel, 1, 'same'), conv.bias)) as tf.Tensor4D);
      }
      if (opts.release && input !== preprocessed && !Object.values(out).includes(input)) input.dispose();
      if (wanted.has(layer.name)) out[layer.name] = x;
    }
    return out;
  }

  dispose(): void {
    for (const c of this.convs.values()) {
      c.kernel.dispose();
      c.bias.dispose();
    }
    this.convs.clear();
  }
}
