import { tf } from './tf';

/**
 * L-BFGS as Torch's optim.lbfgs runs it for neural-style and artistic-videos (but with 10 curvature
 * pairs, not 100: LBFGS_HISTORY): no line search, a
 * fixed step t = LBFGS_STEP along the two-loop direction (the first step t = min(1, 1/‖g‖₁)·LBFGS_STEP,
 * because there is no curvature yet to scale −g), curvature pairs kept only when yᵀs > MIN_CURVATURE
 * (so the inverse-Hessian estimate stays positive definite), and the initial Hessian scaled by
 * yᵀs/yᵀy of the newest pair. Torch's tolFun/tolX stops are off, as neural-style sets them (−1): a
 * frame runs its steps, as with Adam. One step = one loss-and-gradient evaluation, as an Adam step.
 *
 * The box [0, 1]: each step is clipped, as the seed clips Adam's, and the pair keeps the step that was
 * taken, s = x_{k+1} − x_k after the clip. The pair (s, y) is then the secant of the loss along the
 * path the image really moved (a pixel held at a bound contributes 0 to s and so nothing to the
 * curvature); pairing y with the unclipped t·d would claim curvature along a move that never
 * happened. L-BFGS-B proper (a generalised Cauchy point and a subspace minimisation on the free
 * pixels) would honour the box exactly, at several times the code; only a few pixels of a styled
 * frame sit at a bound, so the projection is the seed's choice kept.
 *
 * One departure from Torch: a step whose loss is higher than the last accepted point's is taken back
 * and tried at half the length (backOff) — Torch trusts fixed steps, our synthetic networks do not
 * allow it.
 *
 * The state is float32 tensors only — the pairs, their ρ = 1/yᵀs, the Hessian scale, and the last
 * accepted point with its gradient, loss and the step tried from it — so a checkpoint holds it bit
 * for bit and a resumed run continues exactly (test/engine/lbfgs.test.ts). The state grows by one
 * pair a step until it holds `history` pairs, then stays that size.
 */

/** Torch's default learningRate, which neural-style leaves as it is for L-BFGS. */
export const LBFGS_STEP = 1;
/**
 * Curvature pairs kept. neural-style keeps Torch's 100 over its 1000 iterations; over the seed's 250
 * steps 10 reached the same losses at the same steps on the He-initialised full-width network (0.9×
 * the content frame's loss at step 28, 0.76× after 250, at 96 px) in 0.56× the time a step, and holds
 * 23 images' worth of floats (in memory and in every checkpoint) instead of 203: docs/lbfgs.md.
 */
export const LBFGS_HISTORY = 10;
/** Torch's threshold on yᵀs below which a pair is dropped. */
const MIN_CURVATURE = 1e-10;

export interface LbfgsPair<T> {
  /** x_{k+1} − x_k (after the clip). */
  s: T;
  /** g_{k+1} − g_k. */
  y: T;
  /** 1 / yᵀs (scalar). */
  rho: T;
}

/** The last accepted point and the step tried from it. */
export interface LbfgsBase<T> {
  image: T;
  grad: T;
  /** The loss at `image` (scalar). */
  loss: T;
  /** The direction tried from `image`. */
  direction: T;
  /** The step length tried along it (scalar): the image now is clip(image + t·direction). */
  t: T;
}

/** Everything needed to continue an L-BFGS optimisation bit for bit. */
export interface LbfgsState<T> {
  /** Updates applied so far. */
  step: number;
  /** Oldest first. */
  pairs: LbfgsPair<T>[];
  /** yᵀs / yᵀy of the newest pair kept: the initial inverse Hessian's scale (1 before any pair). */
  hdiag: T;
  /** Absent before the first update. */
  base?: LbfgsBase<T>;
}

/** The state as plain arrays, for a checkpoint (scalars as one-element arrays). */
export type LbfgsArrays = LbfgsState<Float32Array>;

export class Lbfgs {
  private constructor(
    private state: LbfgsState<tf.Tensor>,
    private readonly history: number,
  ) {}

  static fresh(history = LBFGS_HISTORY): Lbfgs {
    return new Lbfgs({ step: 0, pairs: [], hdiag: tf.scalar(1) }, history);
  }

  /** The state a checkpoint holds; `shape` is the image's. */
  static restore(saved: LbfgsArrays, shape: number[], history = LBFGS_HISTORY): Lbfgs {
    const image = (a: Float32Array) => tf.tensor(a, shape);
    const scalar = (a: Float32Array) => tf.scalar(a[0]);
    const b = saved.base;
    return new Lbfgs(
      {
        step: saved.step,
        pairs: saved.pairs.map((p) => ({ s: image(p.s), y: image(p.y), rho: scalar(p.rho) })),
        hdiag: scalar(saved.hdiag),
        base: b && { image: image(b.image), grad: image(b.grad), loss: scalar(b.loss), direction: image(b.direction), t: scalar(b.t) },
      },
      history,
    );
  }

  get step(): number {
    return this.state.step;
  }

  /**
   * One update from `image`, where the loss is `loss` with gradient `grad`: returns the next image,
   * clipped to [0, 1]. Leaves `image`, `grad` and `loss` to the caller (the state keeps copies).
   */
  update(image: tf.Tensor, grad: tf.Tensor, loss: tf.Scalar): tf.Tensor {
    const base = this.state.base;
    if (base && !(loss.dataSync()[0] <= base.loss.dataSync()[0])) return this.backOff(base);
    if (base) this.remember(image, grad, base);
    const first = this.state.step === 0;
    const { next, direction, t } = tf.tidy(() => {
      const free = freePixels(image, grad);
      const direction = tf.mul(this.direction(tf.mul(grad, free), free), free);
      const t = first ? tf.mul(tf.minimum(1, tf.div(1, tf.sum(tf.abs(grad)))), LBFGS_STEP) : tf.scalar(LBFGS_STEP);
      return { next: tf.clipByValue(tf.add(image, tf.mul(direction, t)), 0, 1), direction, t };
    });
    disposeBase(base);
    const kept = { image: tf.clone(image), grad: tf.clone(grad), loss: tf.clone(loss), direction, t };
    this.state = { ...this.state, step: this.state.step + 1, base: kept };
    return next;
  }

  /**
   * The last accepted point (a copy) and its loss, if `loss` — that of the point the last update
   * stepped to — is above it or not a number, as update's test would find on the next step; else undefined.
   */
  acceptedAbove(loss: number): { image: tf.Tensor; loss: number } | undefined {
    const base = this.state.base;
    const accepted = base?.loss.dataSync()[0];
    return base && !(loss <= accepted!) ? { image: tf.clone(base.image), loss: accepted! } : undefined;
  }

  /**
   * The loss rose (or is not a number): the step overshot. Torch takes fixed steps and trusts the
   * loss to behave; with the synthetic networks here it does not (a loss of 2e3 went to 3e6 in ten
   * fixed steps), so the image goes back to the last accepted point and tries half the step — one
   * evaluation a try, so a step still costs one loss and gradient.
   */
  private backOff(base: LbfgsBase<tf.Tensor>): tf.Tensor {
    const t = tf.mul(base.t, 0.5);
    const next = tf.tidy(() => tf.clipByValue(tf.add(base.image, tf.mul(base.direction, t)), 0, 1));
    base.t.dispose();
    this.state = { ...this.state, step: this.state.step + 1, base: { ...base, t } };
    return next;
  }

  /** The pair from the last accepted point to `image`, if its curvature is positive. */
  private remember(image: tf.Tensor, grad: tf.Tensor, base: LbfgsBase<tf.Tensor>): void {
    const s = tf.sub(image, base.image);
    const y = tf.sub(grad, base.grad);
    const ys = tf.tidy(() => tf.sum(tf.mul(y, s)));
    if (ys.dataSync()[0] <= MIN_CURVATURE) {
      tf.dispose([s, y, ys]);
      return;
    }
    const pairs = [...this.state.pairs];
    if (pairs.length === this.history) {
      const oldest = pairs.shift()!;
      tf.dispose([oldest.s, oldest.y, oldest.rho]);
    }
    pairs.push({ s, y, rho: tf.tidy(() => tf.div(1, ys)) });
    const hdiag = tf.tidy(() => tf.div(ys, tf.sum(tf.mul(y, y))));
    tf.dispose([ys, this.state.hdiag]);
    this.state = { ...this.state, pairs, hdiag };
  }

  /**
   * −H·g by the two-loop recursion over the kept pairs (oldest first in `pairs`), on the free
   * values only: `grad` comes masked, and q is masked again before the initial Hessian, so the
   * pairs' y on held values does not leak into the free ones' direction.
   */
  private direction(grad: tf.Tensor, free: tf.Tensor): tf.Tensor {
    const { pairs, hdiag } = this.state;
    let q = tf.neg(grad);
    const alphas: tf.Tensor[] = [];
    for (let i = pairs.length - 1; i >= 0; i--) {
      alphas[i] = tf.mul(tf.sum(tf.mul(pairs[i].s, q)), pairs[i].rho);
      q = tf.sub(q, tf.mul(pairs[i].y, alphas[i]));
    }
    let r = tf.mul(tf.mul(q, free), hdiag);
    for (let i = 0; i < pairs.length; i++) {
      const beta = tf.mul(tf.sum(tf.mul(pairs[i].y, r)), pairs[i].rho);
      r = tf.add(r, tf.mul(pairs[i].s, tf.sub(alphas[i], beta)));
    }
    return r;
  }

  /** The state's values, copied out (for a checkpoint). */
  async arrays(): Promise<LbfgsArrays> {
    const read = async (t: tf.Tensor) => Float32Array.from((await t.data()) as Float32Array);
    const { step, pairs, hdiag, base } = this.state;
    return {
      step,
      pairs: await Promise.all(pairs.map(async (p) => ({ s: await read(p.s), y: await read(p.y), rho: await read(p.rho) }))),
      hdiag: await read(hdiag),
      base: base && {
        image: await read(base.image),
        grad: await read(base.grad),
        loss: await read(base.loss),
        direction: await read(base.direction),
        t: await read(base.t),
      },
    };
  }

  dispose(): void {
    const { pairs, hdiag, base } = this.state;
    tf.dispose([hdiag, ...pairs.flatMap((p) => [p.s, p.y, p.rho])]);
    disposeBase(base);
  }
}

function disposeBase(base: LbfgsBase<tf.Tensor> | undefined): void {
  if (base) tf.dispose([base.image, base.grad, base.loss, base.direction, base.t]);
}

/**
 * 1 where a value may move, 0 where it sits on a bound and the gradient pushes it further out (at 0
 * with g > 0, at 1 with g < 0): the active set of a projected quasi-Newton step.
 */
function freePixels(image: tf.Tensor, grad: tf.Tensor): tf.Tensor {
  const heldLow = tf.logicalAnd(tf.lessEqual(image, 0), tf.greater(grad, 0));
  const heldHigh = tf.logicalAnd(tf.greaterEqual(image, 1), tf.less(grad, 0));
  return tf.cast(tf.logicalNot(tf.logicalOr(heldLow, heldHigh)), 'float32');
}
