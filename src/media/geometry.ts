/** Pure size arithmetic for frames and images. */

export interface Size {
  width: number;
  height: number;
}

/** Nearest even whole number, at least 2: H.264 in 4:2:0 needs even sides. */
function evenSide(x: number): number {
  return Math.max(2, Math.round(x / 2) * 2);
}

/**
 * Scales (down or up, like the seed script) so the long side becomes `longSide`, keeping the
 * aspect ratio, with each side rounded to the nearest even number. An odd `longSide` therefore
 * comes out one pixel off, e.g. 511 becomes 512.
 */
export function scaledSize(width: number, height: number, longSide: number): Size {
  if (!(width > 0 && height > 0)) throw new RangeError(`Cannot scale a ${width}x${height} picture`);
  if (!(longSide > 0)) throw new RangeError(`Long side must be positive (got ${longSide})`);
  const scale = longSide / Math.max(width, height);
  return { width: evenSide(width * scale), height: evenSide(height * scale) };
}

/** Maps any multiple of 90 degrees (negative too) to 0, 90, 180 or 270; anything else to 0. */
export function normaliseRotation(degrees: number): number {
  if (!Number.isFinite(degrees)) return 0;
  const quarter = Math.round(degrees / 90);
  // Display matrices can be a hair off a right angle; odd angles cannot be honoured by ffmpeg's autorotate.
  if (Math.abs(degrees - quarter * 90) > 1) return 0;
  return (((quarter % 4) + 4) % 4) * 90;
}

/**
 * The size a viewer sees: non-square pixels stretched to square ones (width times the sample
 * aspect ratio), then the sides swapped for a quarter turn.
 */
export function displaySize(width: number, height: number, rotation: number, sampleAspect = 1): Size {
  const stretched = sampleAspect > 0 && Number.isFinite(sampleAspect) ? Math.round(width * sampleAspect) : width;
  const quarterTurn = rotation === 90 || rotation === 270;
  return quarterTurn ? { width: height, height: stretched } : { width: stretched, height };
}

/**
 * The smallest long side from `from` up to `max` whose scaled frame has at least `minSide` pixels on
 * its short side, or undefined when none does (a very thin picture).
 */
export function smallestLongSideFor(width: number, height: number, minSide: number, from: number, max: number): number | undefined {
  for (let side = Math.max(1, Math.ceil(from)); side <= max; side++) {
    const s = scaledSize(width, height, side);
    if (Math.min(s.width, s.height) >= minSide) return side;
  }
  return undefined;
}
