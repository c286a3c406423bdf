/**
 * Dense optical flow between frames, and the temporal guide of Ruder, Dosovitskiy & Brox,
 * "Artistic style transfer for videos" (2016): the previous stylized frame warped onto the current
 * one, and a mask of the pixels where that warp can be trusted.
 *
 * The flow is OpenCV's Farnebäck (calcOpticalFlowFarneback) from @techstark/opencv-js: pure wasm,
 * so it runs wherever the engine runs (no native build), on one thread, and so gives the same bits
 * on every machine. Warping and the consistency check are plain loops over typed arrays here.
 */
import type { RgbImage } from '../media/types';

/** Where each pixel of `from` went in `to`: pixel (x, y) moved to (x + dx, y + dy). Row-major, H·W each. */
export interface Flow {
  width: number;
  height: number;
  dx: Float32Array;
  dy: Float32Array;
}

export interface TemporalGuide {
  /**
   * The previous stylized frame warped onto the current frame where mask = 1, the current content
   * frame elsewhere: the image to start this frame's optimisation from (Ruder et al.'s init).
   */
  warped: RgbImage;
  /** H·W weights, 1 where the warped pixel is trusted, 0 where disoccluded or on a motion boundary. */
  mask: Float32Array;
}

// --- OpenCV, loaded once --------------------------------------------------------------------

/** The part of OpenCV's API used here. */
interface CvMat {
  data32F: Float32Array;
  delete(): void;
}
interface OpenCv {
  Mat: new (rows?: number, cols?: number, type?: number) => CvMat;
  CV_32F: number;
  OPTFLOW_FARNEBACK_GAUSSIAN: number;
  calcOpticalFlowFarneback(
    prev: CvMat,
    next: CvMat,
    flow: CvMat,
    pyrScale: number,
    levels: number,
    winsize: number,
    iterations: number,
    polyN: number,
    polySigma: number,
    flags: number,
  ): void;
}

let openCv: Promise<{ cv: OpenCv }> | undefined;

/**
 * Loads OpenCV's wasm once per process (about 0.3 s). Emscripten's Node glue installs process-wide
 * `uncaughtException` and `unhandledRejection` handlers (the latter aborts the wasm module); a worker
 * must keep Node's own behaviour for errors that are not OpenCV's, so the handlers it added are removed.
 * The module is handed out inside an object, never as a promise's value: it has a `then` of its
 * own that calls back with the module itself, so resolving a promise with it never ends.
 */
export function loadOpenCv(): Promise<{ cv: OpenCv }> {
  openCv ??= new Promise<{ cv: OpenCv }>((resolve, reject) => {
    const events = ['uncaughtException', 'unhandledRejection'];
    const before = new Map(events.map((e) => [e, new Set<unknown>(process.listeners(e as 'uncaughtException'))]));
    try {
      const cv = require('@techstark/opencv-js') as OpenCv & { onRuntimeInitialized?: () => void };
      if (typeof cv.calcOpticalFlowFarneback === 'function') resolve({ cv });
      // The wasm compiles asynchronously after the require; the module calls this hook when it is ready.
      else cv.onRuntimeInitialized = () => resolve({ cv });
    } catch (err) {
      reject(err);
    } finally {
      for (const e of events) {
        for (const l of process.listeners(e as 'uncaughtException')) if (!before.get(e)!.has(l)) process.removeListener(e, l);
      }
    }
  });
  return openCv;
}

// --- Flow -------------------------------------------------------------------------------------

/** Rec. 601 luma ×255: Farnebäck works on one channel, and its defaults are tuned for 8-bit ranges. */
function lumaMat(cv: OpenCv, image: RgbImage): CvMat {
  const mat = new cv.Mat(image.height, image.width, cv.CV_32F);
  const out = mat.data32F;
  const d = image.data;
  for (let p = 0, i = 0; p < out.length; p++, i += 3) out[p] = 255 * (0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
  return mat;
}

/**
 * Pyramid levels so that the coarsest level is still about 16 pixels on its short side: each
 * level halves the image and doubles the largest motion Farnebäck can follow (≈ winsize/2 pixels
 * at the coarsest level), and below ~16 px the 15-pixel window sees the whole frame.
 */
export function pyramidLevels(width: number, height: number): number {
  return Math.max(0, Math.min(5, Math.floor(Math.log2(Math.min(width, height) / 16))));
}

function checkSameSize(a: RgbImage, b: RgbImage, what: string): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`${what}: frames must have the same size, got ${a.width}×${a.height} and ${b.width}×${b.height}`);
  }
  for (const img of [a, b]) {
    if (img.data.length !== img.width * img.height * 3) {
      throw new RangeError(`${what}: a ${img.width}×${img.height} RGB image needs ${img.width * img.height * 3} values, got ${img.data.length}`);
    }
  }
}

/** Dense flow from `from` to `to` (same size): see Flow. Deterministic. */
export async function computeFlow(from: RgbImage, to: RgbImage): Promise<Flow> {
  checkSameSize(from, to, 'computeFlow');
  const { cv } = await loadOpenCv();
  const { width, height } = from;
  const prev = lumaMat(cv, from);
  const next = lumaMat(cv, to);
  const flow = new cv.Mat();
  try {
    // pyrScale 0.5, window 15, 3 iterations, polynomial over 5×5 with σ 1.1 and Gaussian weighting:
    // OpenCV's documented choice for good quality (see bench/coherence.ts for time and error).
    cv.calcOpticalFlowFarneback(prev, next, flow, 0.5, pyramidLevels(width, height), 15, 3, 5, 1.1, cv.OPTFLOW_FARNEBACK_GAUSSIAN);
    const interleaved = flow.data32F;
    const dx = new Float32Array(width * height);
    const dy = new Float32Array(width * height);
    for (let p = 0; p < dx.length; p++) {
      dx[p] = interleaved[2 * p];
      dy[p] = interleaved[2 * p + 1];
    }
    return { width, height, dx, dy };
  } finally {
    prev.delete();
    next.delete();
    flow.delete();
  }
}

// --- Warping ----------------------------------------------------------------------------------

/**
 * Bilinear sample of a `channels`-channel row-major image at (x, y), written to out[o..]. Returns
 * false, writing nothing, when (x, y) lies outside the image: nothing there to warp from.
 */
function sampleBilinear(src: Float32Array, width: number, height: number, channels: number, x: number, y: number, out: Float32Array, o: number): boolean {
  if (!(x >= 0 && y >= 0 && x <= width - 1 && y <= height - 1)) return false;
  const x0 = Math.min(Math.floor(x), width - 2 < 0 ? 0 : width - 2);
  const y0 = Math.min(Math.floor(y), height - 2 < 0 ? 0 : height - 2);
  const x1 = Math.min(x0 + 1, width - 1);
  const y1 = Math.min(y0 + 1, height - 1);
  const fx = x - x0;
  const fy = y - y0;
  for (let c = 0; c < channels; c++) {
    const a = src[(y0 * width + x0) * channels + c];
    const b = src[(y0 * width + x1) * channels + c];
    const d = src[(y1 * width + x0) * channels + c];
    const e = src[(y1 * width + x1) * channels + c];
    out[o + c] = (a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy;
  }
  return true;
}

/**
 * Warps `image` (the earlier frame) onto the later frame along `backward` (later → earlier flow):
 * out(x) = image(x + backward(x)), bilinear. `inside` gets 0 where x + backward(x) leaves the frame.
 */
export function warpImage(image: RgbImage, backward: Flow, inside?: Uint8Array): RgbImage {
  const { width, height } = backward;
  if (image.width !== width || image.height !== height) {
    throw new RangeError(`warpImage: image is ${image.width}×${image.height}, flow is ${width}×${height}`);
  }
  const out = new Float32Array(width * height * 3);
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, p++) {
      const ok = sampleBilinear(image.data, width, height, 3, x + backward.dx[p], y + backward.dy[p], out, 3 * p);
      if (inside) inside[p] = ok ? 1 : 0;
    }
  }
  return { width, height, data: out };
}

// --- Consistency (Ruder et al. 2016, section 3.2) ------------------------------------------

/**
 * Ruder et al.'s weights c: 0 where a pixel of the later frame is disoccluded — the forward flow,
 * warped to the later frame (w̃), does not undo the backward flow ŵ:
 *   |w̃ + ŵ|² > 0.01 (|w̃|² + |ŵ|²) + 0.5
 * — or lies on a motion boundary of ŵ:
 *   |∇ŵ_x|² + |∇ŵ_y|² > 0.01 |ŵ|² + 0.002
 * and where ŵ points outside the earlier frame; 1 elsewhere. Gradients are central differences
 * (one-sided at the border), as in the authors' consistencyChecker.
 */
export function consistencyMask(forward: Flow, backward: Flow): Float32Array {
  const { width, height } = backward;
  const mask = new Float32Array(width * height);
  const fwd = new Float32Array(width * height * 2);
  for (let p = 0; p < mask.length; p++) {
    fwd[2 * p] = forward.dx[p];
    fwd[2 * p + 1] = forward.dy[p];
  }
  const wt = new Float32Array(2);
  const grad = (f: Float32Array, x: number, y: number, p: number): number => {
    const xl = x > 0 ? p - 1 : p;
    const xr = x < width - 1 ? p + 1 : p;
    const yu = y > 0 ? p - width : p;
    const yd = y < height - 1 ? p + width : p;
    const gx = (f[xr] - f[xl]) / Math.max(1, (xr - xl));
    const gy = (f[yd] - f[yu]) / Math.max(1, (yd - yu) / width);
    return gx * gx + gy * gy;
  };
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, p++) {
      const bx = backward.dx[p];
      const by = backward.dy[p];
      if (!sampleBilinear(fwd, width, height, 2, x + bx, y + by, wt, 0)) continue;
      const sx = wt[0] + bx;
      const sy = wt[1] + by;
      const disoccluded = sx * sx + sy * sy > 0.01 * (wt[0] * wt[0] + wt[1] * wt[1] + bx * bx + by * by) + 0.5;
      const boundary = grad(backward.dx, x, y, p) + grad(backward.dy, x, y, p) > 0.01 * (bx * bx + by * by) + 0.002;
      mask[p] = disoccluded || boundary ? 0 : 1;
    }
  }
  return mask;
}

/**
 * Farnebäck smooths the flow across motion boundaries: where a moving object uncovers background,
 * the backward flow there still carries the object's motion (a 6-px move gives ŵ ≈ −5.7 on the
 * uncovered strip) and the forward flow agrees with it, so Ruder et al.'s two tests, made for
 * sharp-edged flows (DeepFlow, EpicFlow), pass it. The earlier content frame warped the same way
 * shows the object there while the frame shows background: pixels whose warped content differs by
 * more than this (squared RGB distance, channels in [0, 1]; ≈ 0.08 per channel) are untrusted too.
 * A correct sub-pixel warp of textured content differs by well under 0.01 per channel.
 */
export const PHOTOMETRIC_THRESHOLD = 3 * 0.08 ** 2;

/**
 * Farnebäck also leaks motion into the static background around a moving object (0.1–0.2 px at
 * 96–128 px frames), so every warm start resampled the background a little and the background
 * drifted from frame to frame. Where the two content frames agree around a pixel — the mean squared
 * RGB difference over a 5×5 window under this, i.e. within about 5/255 a channel: sensor and
 * compression noise, not motion — and the flow there is under STILL_MAX_FLOW, the flow is snapped to zero:
 * a still pixel keeps the previous stylized pixel exactly.
 */
export const STILL_THRESHOLD = 3 * 0.02 ** 2;

/**
 * Around a moving object a codec re-encodes the blocks, so the decoded background there changes by
 * more than STILL_THRESHOLD between frames although nothing in it moved (H.264 at CRF 23: 0.035 a
 * channel in a band 3–8 px wide, against 0.002 further out), and Farnebäck's smoothed flow leaks the
 * object's motion into the same band. Those pixels failed every test: untrusted, they restarted from
 * the content frame each frame and flickered 0.6–0.9× as much as frame-by-frame stylization. So a pixel is
 * also still when zero motion explains its neighbourhood about as well as the flow does: the local
 * difference without motion at most this many times the local difference after warping along the
 * flow. Moving texture fails it (a 1-px shift of detail costs far more than the flow's residual);
 * 1.5 is where the bench's gain levels off (bench/coherence.ts: 2 and 3 gain little more).
 */
export const STILL_RATIO = 1.5;

/**
 * Where every test above leaves a pixel untrusted, the flow is wrong or unsure there, not
 * necessarily the pixel moved: beside a moving object Farnebäck's smoothed flow carries the
 * object's motion, the 5×5 window of the still tests takes in the object itself, and the
 * motion-boundary test fires on the flow's own edge, so background next to the object restarted
 * from the content frame every frame (at 512 px, half of what still pixels changed then). Such a
 * pixel keeps the previous stylized pixel where it is (zero motion) when, over its 3×3
 * neighbourhood, it changed in place by less than this (mean squared RGB difference: about 0.06 a
 * channel, where H.264's re-encoded blocks change by 0.035) and by no more than it changed along
 * the flow. A pixel the object uncovered or covered changes far more in place, so stays untrusted;
 * the object's own texture is mostly explained better by the flow (test/engine/flow.test.ts). On
 * bench/coherence.ts's clip it takes the change on still pixels from 0.39× to 0.31× content-init's
 * at 96 px and 0.38× to 0.33× at 512, with the warping error unchanged; the moving object's pixels
 * held in place go from about 1.4% to 2.3–2.7% at 96–128 px (edge pixels whose texture looks the
 * same without motion).
 */
export const IN_PLACE_THRESHOLD = 3 * 0.06 ** 2;

export interface GuideOptions {
  /** Squared RGB distance above which a warped pixel is untrusted (PHOTOMETRIC_THRESHOLD); Infinity: the paper's tests only. */
  photometricThreshold?: number;
  /** Local mean squared difference under which a pixel counts as still (STILL_THRESHOLD); 0: no snapping. */
  stillThreshold?: number;
  /** Still when zero motion's local difference is at most this times the flow's (STILL_RATIO); 0: only stillThreshold decides. */
  stillRatio?: number;
  /** An otherwise untrusted pixel keeps the previous stylized pixel in place when its 3×3 difference in place is under this and under the one along the flow (IN_PLACE_THRESHOLD); 0: never. */
  inPlaceThreshold?: number;
}

/** Per pixel: the mean over a (2r+1)² window of the squared RGB difference of two same-size images (a box filter by summed areas). */
function localDifference(a: RgbImage, b: RgbImage, r: number): Float32Array {
  const { width: w, height: h } = a;
  const sums = new Float64Array((w + 1) * (h + 1));
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) {
      const i = 3 * (y * w + x);
      const d0 = a.data[i] - b.data[i];
      const d1 = a.data[i + 1] - b.data[i + 1];
      const d2 = a.data[i + 2] - b.data[i + 2];
      row += d0 * d0 + d1 * d1 + d2 * d2;
      sums[(y + 1) * (w + 1) + x + 1] = sums[y * (w + 1) + x + 1] + row;
    }
  }
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(0, y - r);
    const y1 = Math.min(h, y + r + 1);
    for (let x = 0; x < w; x++) {
      const x0 = Math.max(0, x - r);
      const x1 = Math.min(w, x + r + 1);
      const total = sums[y1 * (w + 1) + x1] - sums[y0 * (w + 1) + x1] - sums[y1 * (w + 1) + x0] + sums[y0 * (w + 1) + x0];
      out[y * w + x] = total / ((y1 - y0) * (x1 - x0));
    }
  }
  return out;
}

/** Most flow (px) a still pixel may carry and still be snapped: more is taken for real motion of a flat surface. */
const STILL_MAX_FLOW = 2;

/**
 * `earlier` warped along `backward`, with `later`'s own pixels where the flow leaves the frame: the
 * warp has nothing to compare there, and counting it as a difference would make zero motion look
 * better for the pixels around (STILL_RATIO); `inside` gets 0 at those pixels, which are never still
 * by the ratio (and are untrusted by consistencyMask unless snapped).
 */
function warpedWithin(earlier: RgbImage, later: RgbImage, backward: Flow, inside: Uint8Array): RgbImage {
  const warped = warpImage(earlier, backward, inside);
  for (let p = 0; p < inside.length; p++) if (!inside[p]) warped.data.set(later.data.subarray(3 * p, 3 * p + 3), 3 * p);
  return warped;
}

/** The content frames and the previous one warped along the (unsnapped) backward flow: what snapStill compares. */
interface StillEvidence {
  prevContent: RgbImage;
  content: RgbImage;
  warpedContent: RgbImage;
  inside: Uint8Array;
}

/**
 * Zeroes both flows where the pixel is still (see STILL_THRESHOLD and STILL_RATIO) and the flow is
 * small; returns which pixels it snapped. Their zero flow is consistent by construction, and the
 * motion-boundary test, which fires on the step between them and the moving object's own flow,
 * says nothing about them: the caller trusts them (the photometric test still applies).
 */
function snapStill({ prevContent, content, warpedContent, inside }: StillEvidence, forward: Flow, backward: Flow, threshold: number, ratio: number): Uint8Array {
  const snapped = new Uint8Array(forward.dx.length);
  if (!(threshold > 0) && !(ratio > 0)) return snapped;
  const difference = localDifference(prevContent, content, 2);
  const alongFlow = ratio > 0 ? localDifference(warpedContent, content, 2) : undefined;
  const still = (p: number) => difference[p] < threshold || (alongFlow !== undefined && inside[p] === 1 && difference[p] <= ratio * alongFlow[p]);
  const small = (f: Flow, p: number) => f.dx[p] * f.dx[p] + f.dy[p] * f.dy[p] < STILL_MAX_FLOW * STILL_MAX_FLOW;
  for (let p = 0; p < difference.length; p++) {
    if (!still(p) || !small(forward, p) || !small(backward, p)) continue;
    for (const f of [forward, backward]) f.dx[p] = f.dy[p] = 0;
    snapped[p] = 1;
  }
  return snapped;
}

/** Which pixels pass the in-place test (IN_PLACE_THRESHOLD); `warpedContent` as warped along the unsnapped flow. */
function inPlaceTest(prevContent: RgbImage, content: RgbImage, warpedContent: RgbImage, threshold: number): (p: number) => boolean {
  if (!(threshold > 0)) return () => false;
  const inPlace = localDifference(prevContent, content, 1);
  const alongFlow = localDifference(warpedContent, content, 1);
  return (p) => inPlace[p] < threshold && inPlace[p] <= alongFlow[p];
}

/**
 * The guide for stylizing `content` after `prevContent` was stylized as `prevStyled`: flows both
 * ways between the content frames, the previous stylized frame warped along the backward flow,
 * and the consistency mask (plus the photometric test above); untrusted pixels of `warped` are the
 * content frame's, but those that did not change in place keep the previous stylized pixel
 * (IN_PLACE_THRESHOLD).
 */
export async function temporalGuide(prevContent: RgbImage, content: RgbImage, prevStyled: RgbImage, opts: GuideOptions = {}): Promise<TemporalGuide> {
  checkSameSize(prevContent, content, 'temporalGuide');
  checkSameSize(prevContent, prevStyled, 'temporalGuide (previous stylized frame)');
  const threshold = opts.photometricThreshold ?? PHOTOMETRIC_THRESHOLD;
  const backward = await computeFlow(content, prevContent);
  const forward = await computeFlow(prevContent, content);
  // One warp of the previous content frame serves the still ratio (before snapping) and the
  // photometric test (after): a snapped pixel's zero flow warps to the earlier frame's own pixel.
  const inside = new Uint8Array(backward.dx.length);
  const warpedContent = warpedWithin(prevContent, content, backward, inside);
  const snapped = snapStill({ prevContent, content, warpedContent, inside }, forward, backward, opts.stillThreshold ?? STILL_THRESHOLD, opts.stillRatio ?? STILL_RATIO);
  const mask = consistencyMask(forward, backward);
  const warped = warpImage(prevStyled, backward);
  const keepsInPlace = inPlaceTest(prevContent, content, warpedContent, opts.inPlaceThreshold ?? IN_PLACE_THRESHOLD);
  const [c, w] = [content.data, warpedContent.data];
  for (let p = 0, i = 0; p < mask.length; p++, i += 3) {
    if (snapped[p]) {
      mask[p] = 1;
      for (let k = i; k < i + 3; k++) w[k] = prevContent.data[k];
    }
    if (Number.isFinite(threshold) && mask[p] === 1) {
      const [r, g, b] = [w[i] - c[i], w[i + 1] - c[i + 1], w[i + 2] - c[i + 2]];
      if (r * r + g * g + b * b > threshold) mask[p] = 0;
    }
    if (mask[p] === 1) continue;
    if (keepsInPlace(p)) {
      mask[p] = 1;
      warped.data.set(prevStyled.data.subarray(i, i + 3), i);
    } else {
      warped.data.set(c.subarray(i, i + 3), i);
    }
  }
  return { warped, mask };
}

// --- On disk ----------------------------------------------------------------------------------

const GUIDE_MAGIC = 'STGUIDE1';
const HEADER_BYTES = 16; // magic (8) + width (4) + height (4), little-endian

/** The guide as bytes, so an activity can keep it beside the frame and reuse it on a retry. */
export function encodeGuide(guide: TemporalGuide): Buffer {
  const { width, height } = guide.warped;
  const pixels = width * height;
  if (guide.mask.length !== pixels) throw new RangeError(`encodeGuide: mask has ${guide.mask.length} values for ${pixels} pixels`);
  const out = Buffer.alloc(HEADER_BYTES + 4 * pixels * 4);
  out.write(GUIDE_MAGIC, 0, 'ascii');
  out.writeUInt32LE(width, 8);
  out.writeUInt32LE(height, 12);
  const body = new Float32Array(out.buffer, out.byteOffset + HEADER_BYTES, pixels * 4);
  body.set(guide.warped.data, 0);
  body.set(guide.mask, pixels * 3);
  return out;
}

/** The exact inverse of encodeGuide; refuses bytes that are not a whole guide. */
export function decodeGuide(bytes: Buffer): TemporalGuide {
  if (bytes.length < HEADER_BYTES || bytes.toString('ascii', 0, 8) !== GUIDE_MAGIC) {
    throw new Error(`not a temporal guide file (expected it to start with ${GUIDE_MAGIC}); delete it and it will be computed again`);
  }
  const width = bytes.readUInt32LE(8);
  const height = bytes.readUInt32LE(12);
  const pixels = width * height;
  if (bytes.length !== HEADER_BYTES + 16 * pixels) {
    throw new Error(`temporal guide for ${width}×${height} should be ${HEADER_BYTES + 16 * pixels} bytes, is ${bytes.length} (truncated?); delete it and it will be computed again`);
  }
  // Copy: the Buffer may be a slice of a pool whose offset is not 4-byte aligned.
  const body = new Float32Array(pixels * 4);
  Buffer.from(body.buffer).set(bytes.subarray(HEADER_BYTES));
  return { warped: { width, height, data: body.slice(0, pixels * 3) }, mask: body.slice(pixels * 3) };
}
