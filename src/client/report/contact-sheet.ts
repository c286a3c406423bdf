import sharp from 'sharp';

/**
 * A contact sheet: one column per frame, the original above the stylized image and the frame's
 * number under each column. The numbers are drawn as seven-segment digits (SVG rectangles), so
 * they need no font on the machine.
 */
export interface SheetColumn {
  frame: number;
  original: string;
  stylized: string;
}

const MARGIN = 8;
const GAP = 8;
/** Height of a digit; the label row is this plus padding. */
const DIGIT_HEIGHT = 14;
const DIGIT_WIDTH = 8;
const STROKE = 2;

// Segments a–g of each digit: a top, b top right, c bottom right, d bottom, e bottom left, f top left, g middle.
const SEGMENTS: Record<string, string> = {
  '0': 'abcdef',
  '1': 'bc',
  '2': 'abged',
  '3': 'abgcd',
  '4': 'fgbc',
  '5': 'afgcd',
  '6': 'afgedc',
  '7': 'abc',
  '8': 'abcdefg',
  '9': 'abcdfg',
};

function segmentRects(segments: string, x: number, y: number): string {
  const w = DIGIT_WIDTH;
  const h = DIGIT_HEIGHT;
  const half = Math.floor(h / 2);
  const rects: Record<string, [number, number, number, number]> = {
    a: [x, y, w, STROKE],
    b: [x + w - STROKE, y, STROKE, half + 1],
    c: [x + w - STROKE, y + half, STROKE, h - half],
    d: [x, y + h - STROKE, w, STROKE],
    e: [x, y + half, STROKE, h - half],
    f: [x, y, STROKE, half + 1],
    g: [x, y + half - 1, w, STROKE],
  };
  return [...segments].map((s) => `<rect x="${rects[s][0]}" y="${rects[s][1]}" width="${rects[s][2]}" height="${rects[s][3]}"/>`).join('');
}

/** SVG of `text` (digits only) in seven-segment style, centred on `cx`, top at `y`. */
export function digitsSvg(text: string, cx: number, y: number): string {
  const advance = DIGIT_WIDTH + 3;
  const width = text.length * advance - 3;
  let x = Math.round(cx - width / 2);
  let out = '';
  for (const ch of text) {
    const segments = SEGMENTS[ch];
    if (segments) out += segmentRects(segments, x, y);
    x += advance;
  }
  return out;
}

/** Geometry of the sheet for `count` columns of `width`×`height` images. */
export function sheetLayout(count: number, width: number, height: number) {
  const column = Math.max(width, 6 * (DIGIT_WIDTH + 3));
  const label = DIGIT_HEIGHT + 2 * 4;
  return {
    column,
    label,
    width: 2 * MARGIN + count * column + (count - 1) * GAP,
    height: 2 * MARGIN + 2 * height + GAP + label,
    /** Top-left corner of column `i`'s original (its stylized image is `height + GAP` below). */
    origin: (i: number) => ({ left: MARGIN + i * (column + GAP) + Math.floor((column - width) / 2), top: MARGIN }),
  };
}

/** Writes the contact sheet PNG to a buffer. */
export async function contactSheet(columns: readonly SheetColumn[]): Promise<Buffer> {
  const first = await sharp(columns[0].original).metadata();
  const width = first.width!;
  const height = first.height!;
  const layout = sheetLayout(columns.length, width, height);
  const composites: sharp.OverlayOptions[] = [];
  let labels = '';
  columns.forEach((c, i) => {
    const { left, top } = layout.origin(i);
    composites.push({ input: c.original, left, top });
    composites.push({ input: c.stylized, left, top: top + height + GAP });
    const cx = MARGIN + i * (layout.column + GAP) + layout.column / 2;
    labels += digitsSvg(String(c.frame), cx, MARGIN + 2 * height + GAP + 4);
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}"><g fill="#ffffff">${labels}</g></svg>`;
  composites.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width: layout.width, height: layout.height, channels: 3, background: { r: 24, g: 24, b: 24 } } })
    .composite(composites)
    .png()
    .toBuffer();
}
