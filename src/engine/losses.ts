import { tf } from './tf';

/** Keras `vgg19.preprocess_input` ("caffe" mode) for images in [0, 1]: ×255, RGB→BGR, minus the ImageNet mean. */
export const IMAGENET_MEAN_BGR = [103.939, 116.779, 123.68] as const;

export function caffePreprocess(image01: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.reverse(tf.mul(image01, 255), -1), tf.tensor1d(IMAGENET_MEAN_BGR as unknown as number[])));
}

/** Gram matrix Σ FᵀF / (H·W), per batch element: [b, h, w, c] → [b, c, c]. */
export function gramMatrix(features: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, h, w, c] = features.shape;
    const flat = tf.reshape(features, [b, h * w, c]) as tf.Tensor3D;
    return tf.div(tf.matMul(flat, flat, true, false), h * w) as tf.Tensor3D;
  });
}

/** Mean over all elements of (a − b)². */
export function meanSquaredError(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(a, b)) as tf.Scalar);
}

/** `tf.image.total_variation` for one image: Σ|Δx| + Σ|Δy| over pixels and channels. */
export function totalVariation(image: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const [, h, w] = image.shape;
    const dy = tf.sub(tf.slice(image, [0, 1, 0, 0], [-1, h - 1, -1, -1]), tf.slice(image, [0, 0, 0, 0], [-1, h - 1, -1, -1]));
    const dx = tf.sub(tf.slice(image, [0, 0, 1, 0], [-1, -1, w - 1, -1]), tf.slice(image, [0, 0, 0, 0], [-1, -1, w - 1, -1]));
    return tf.add(tf.sum(tf.abs(dy)), tf.sum(tf.abs(dx))) as tf.Scalar;
  });
}

export interface LossWeights {
  styleWeight: number;
  contentWeight: number;
  tvWeight: number;
}

export interface LossTerms {
  style: tf.Scalar;
  content: tf.Scalar;
  tv: tf.Scalar;
  total: tf.Scalar;
}

/**
 * The seed's style_content_loss: each weight is divided by its number of layers, so adding layers
 * does not change the balance between style and content.
 */
export function styleContentLoss(
  grams: readonly tf.Tensor3D[],
  styleTargets: readonly tf.Tensor3D[],
  content: readonly tf.Tensor4D[],
  contentTargets: readonly tf.Tensor4D[],
  image01: tf.Tensor4D,
  w: LossWeights,
): LossTerms {
  const sumOf = (xs: tf.Scalar[]) => (xs.length === 1 ? xs[0] : (tf.addN(xs) as tf.Scalar));
  const style = tf.mul(sumOf(grams.map((g, i) => meanSquaredError(g, styleTargets[i]))), w.styleWeight / grams.length) as tf.Scalar;
  const contentLoss = tf.mul(
    sumOf(content.map((f, i) => meanSquaredError(f, contentTargets[i]))),
    w.contentWeight / content.length,
  ) as tf.Scalar;
  const tv = w.tvWeight === 0 ? tf.scalar(0) : (tf.mul(totalVariation(image01), w.tvWeight) as tf.Scalar);
  return { style, content: contentLoss, tv, total: tf.addN([style, contentLoss, tv]) as tf.Scalar };
}

/**
 * Ruder et al.'s short-term temporal loss: the mean over pixels and channels of
 * mask·(x − warped)², images in [0, 1] and `mask` [1, H, W, 1] broadcast over the channels.
 *
 * Scale: the paper's images are in [0, 255] (Caffe VGG), so its γ·(1/D)Σc(x − ω)² is
 * γ·255²·(this) — its γ = 200 would be ≈ 1.3e7 here, but only relative to its own content
 * weight α = 1 on relu4_2, while the seed weighs block5_conv2 by 1e4 and style by 1e-2 with
 * Gram matrices normalised differently. The default is therefore set from measured loss terms
 * (defaultTemporalWeight), not carried over.
 */
export function temporalLoss(image01: tf.Tensor4D, warped01: tf.Tensor4D, mask: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.mul(mask, tf.squaredDifference(image01, warped01))) as tf.Scalar);
}
