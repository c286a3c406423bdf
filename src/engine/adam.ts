import { tf } from './tf';

export interface AdamConfig {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Moments and step count: everything needed to continue an optimisation bit for bit. */
export interface AdamMoments<T> {
  /** Number of updates applied so far. */
  step: number;
  m: T;
  v: T;
}

/**
 * Bias correction factor of Keras' Adam for update number `t` (1-based). Keras folds the
 * correction into the learning rate and adds ε to √v unscaled; tfjs's built-in Adam corrects m
 * and v instead, which differs noticeably at the seed's large ε = 0.1 — hence our own update.
 */
export function adamAlpha(cfg: AdamConfig, t: number): number {
  return (cfg.learningRate * Math.sqrt(1 - cfg.beta2 ** t)) / (1 - cfg.beta1 ** t);
}

/** One Keras Adam update; returns new tensors and leaves the inputs alone. */
export function adamUpdate(
  cfg: AdamConfig,
  value: tf.Tensor,
  grad: tf.Tensor,
  state: AdamMoments<tf.Tensor>,
): { value: tf.Tensor; state: AdamMoments<tf.Tensor> } {
  const t = state.step + 1;
  const [next, m, v] = tf.tidy(() => {
    const m = tf.add(state.m, tf.mul(tf.sub(grad, state.m), 1 - cfg.beta1));
    const v = tf.add(state.v, tf.mul(tf.sub(tf.square(grad), state.v), 1 - cfg.beta2));
    const next = tf.sub(value, tf.div(tf.mul(m, adamAlpha(cfg, t)), tf.add(tf.sqrt(v), cfg.epsilon)));
    return [next, m, v];
  });
  return { value: next, state: { step: t, m, v } };
}
