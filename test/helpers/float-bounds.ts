/**
 * Bounds for comparing float32 results computed two ways (tfjs against Keras, the step graph against
 * eager kernels, AVX2 against AVX-512, oneDNN on or off), derived from rounding-error analysis rather
 * than read off one CPU.
 *
 * The one fact used (Higham, Accuracy and Stability of Numerical Algorithms, §3.1): a sum or dot
 * product of n float32 terms, accumulated in ANY order — any SIMD width, blocking, thread split or
 * fused multiply-add — is within γ(n)·Σ|terms| of the exact value, γ(n) = n·u/(1 − n·u), u = 2⁻²⁴.
 * Two such evaluations are therefore within 2·γ(n)·Σ|terms| of each other. A computation made of
 * several stages (a network's layers, an optimiser's steps) adds its stages' n to first order, so
 * `n` below is the length of the longest chain of rounded operations behind one value, and
 * `absSum` is what its terms add to in absolute value (a magnitude the test computes, e.g. the same
 * network run on absolute values). FIRST_ORDER_SLACK covers the second-order terms the sum of n's
 * leaves out and transcendental functions (sqrt) rounded within a few ulps rather than half of one.
 */

/** Unit roundoff of float32: the largest relative error of one correctly rounded operation. */
export const U32 = 2 ** -24;

/** Safety factor for what the first-order sum of chain lengths leaves out (see above). */
export const FIRST_ORDER_SLACK = 2;

/** γ(n): relative bound on n accumulated roundings. */
export function gamma(n: number): number {
  if (!(n >= 0 && n * U32 < 0.5)) throw new RangeError(`chain of ${n} operations is too long for a float32 bound`);
  return (n * U32) / (1 - n * U32);
}

/** Largest |a − b| for two float32 evaluations of one value: `n` operations over terms of absolute sum `absSum`. */
export function float32Bound(n: number, absSum: number): number {
  return 2 * FIRST_ORDER_SLACK * gamma(n) * absSum;
}

/**
 * Asserts |actual[i] − expected[i]| ≤ float32Bound(n, absSum[i]) for every i (absSum a number
 * applies to all), and fails naming the worst element, its bound and the chain length.
 */
export function assertFloat32Close(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  n: number,
  absSum: number | ArrayLike<number>,
  what: string,
): void {
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} values against ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const bound = float32Bound(n, typeof absSum === 'number' ? absSum : absSum[i]);
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= bound)) {
      throw new Error(`${what}[${i}] = ${actual[i]}, expected ${expected[i]}: |diff| ${err.toExponential(3)} over the float32 bound ${bound.toExponential(3)} (${n} operations)`);
    }
  }
}

/** Rounded operations along one output of a 3×3 convolution with `cin` input channels: 9·cin products and the bias. */
export const conv3x3Chain = (cin: number) => 9 * cin + 1;

/**
 * Largest |update| / learning rate of Keras Adam at step t: lr·√(1−β2ᵗ)/(1−β1ᵗ)·|m|/(√v+ε), and by
 * Cauchy–Schwarz on m = (1−β1)Σβ1ᵏg, v = (1−β2)Σβ2ᵏg²: |m|/√v ≤ (1−β1)/√(1−β2)·√(Σₖ(β1²/β2)ᵏ), k < t.
 */
export function adamStepMax(t: number, beta1: number, beta2: number): number {
  let series = 0;
  for (let k = 0; k < t; k++) series += (beta1 * beta1 / beta2) ** k;
  return (Math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)) * ((1 - beta1) / Math.sqrt(1 - beta2)) * Math.sqrt(series);
}
