/**
 * Sets of frame numbers and failure messages in a size that does not grow with the failure count:
 * what the workflow carries across continue-as-new and answers in its progress query. Pure and
 * sandbox-safe (no Node built-ins, no Buffer), shared by the workflow, its activities and clients.
 */

/** Frames `first` to `last`, both included. */
export type FrameRange = [first: number, last: number];

/**
 * A set of frames as stored in workflow state and activity inputs: runs of frames, or — when the
 * runs would take more room (scattered frames) — a bitmap from `from`, six frames per character,
 * so it never takes more than about one character per six frames of the video.
 */
export type PackedFrames = { ranges: FrameRange[] } | { from: number; bits: string };

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Sorted, disjoint, non-adjacent runs of frame numbers. */
export class FrameSet {
  private runs: FrameRange[] = [];
  private count = 0;

  static of(frames: Iterable<number>): FrameSet {
    const set = new FrameSet();
    for (const f of frames) set.add(f);
    return set;
  }

  static unpack(packed: PackedFrames | undefined): FrameSet {
    const set = new FrameSet();
    if (!packed) return set;
    if ('ranges' in packed) {
      for (const [a, b] of packed.ranges) set.addRun(a, b);
      return set;
    }
    for (let i = 0; i < packed.bits.length; i++) {
      const v = ALPHABET.indexOf(packed.bits[i]);
      for (let b = 0; b < 6; b++) if (v & (1 << b)) set.add(packed.from + i * 6 + b);
    }
    return set;
  }

  get size(): number {
    return this.count;
  }

  /** The runs, lowest first (do not modify). */
  get ranges(): readonly FrameRange[] {
    return this.runs;
  }

  has(frame: number): boolean {
    const i = this.search(frame);
    return i < this.runs.length && this.runs[i][0] <= frame;
  }

  add(frame: number): void {
    // i: the first run that ends at or after frame - 1 (a run it may join or extend).
    const i = this.search(frame - 1);
    const run = this.runs[i];
    if (run && run[0] <= frame && frame <= run[1]) return;
    this.count++;
    if (run && run[1] === frame - 1) {
      run[1] = frame;
      const next = this.runs[i + 1];
      if (next && next[0] === frame + 1) {
        run[1] = next[1];
        this.runs.splice(i + 1, 1);
      }
    } else if (run && run[0] === frame + 1) {
      run[0] = frame;
    } else {
      this.runs.splice(i, 0, [frame, frame]);
    }
  }

  /** Adds frames `first` to `last`: appended in one piece when they come after every frame in the set. */
  addRun(first: number, last: number): void {
    const end = this.runs[this.runs.length - 1];
    if (!end || first > end[1] + 1) {
      if (last < first) return;
      this.runs.push([first, last]);
      this.count += last - first + 1;
      return;
    }
    for (let f = first; f <= last; f++) this.add(f);
  }

  /** Removes and returns the lowest frame. */
  takeLowest(): number | undefined {
    const run = this.runs[0];
    if (!run) return undefined;
    const frame = run[0];
    if (run[0] === run[1]) this.runs.shift();
    else run[0]++;
    this.count--;
    return frame;
  }

  clear(): void {
    this.runs = [];
    this.count = 0;
  }

  *[Symbol.iterator](): IterableIterator<number> {
    for (const [a, b] of this.runs) for (let f = a; f <= b; f++) yield f;
  }

  /** The smaller of the two packed forms. */
  pack(): PackedFrames {
    const ranges = this.runs.map(([a, b]): FrameRange => [a, b]);
    if (ranges.length === 0) return { ranges };
    const from = ranges[0][0];
    const span = ranges[ranges.length - 1][1] - from + 1;
    // A run costs about 14 characters of JSON; the bitmap one per six frames of the span.
    if (ranges.length * 14 <= span / 6 + 16) return { ranges };
    const codes = new Array<number>(Math.ceil(span / 6)).fill(0);
    for (const [a, b] of ranges) for (let f = a; f <= b; f++) codes[Math.floor((f - from) / 6)] |= 1 << (f - from) % 6;
    return { from, bits: codes.map((c) => ALPHABET[c]).join('') };
  }

  /** At most `max` runs, lowest first, and how many more there are. */
  view(max = MAX_LISTED_RANGES): FramesView {
    return { count: this.count, ranges: this.runs.slice(0, max).map(([a, b]): FrameRange => [a, b]), rangesOmitted: Math.max(0, this.runs.length - max) };
  }

  /** Index of the first run whose end is at or after `frame`. */
  private search(frame: number): number {
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.runs[mid][1] < frame) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Runs of frames listed in a progress answer; the rest are counted. */
export const MAX_LISTED_RANGES = 100;
/** Characters kept of an error message. */
export const MAX_ERROR_LENGTH = 400;
/** Distinct errors kept; any further ones are counted together in the last group. */
export const MAX_ERROR_GROUPS = 20;
/** Frames named per error group. */
export const MAX_SAMPLE_FRAMES = 10;

/** A set of frames as shown: the count and the first runs. */
export interface FramesView {
  count: number;
  /** Runs [first, last], lowest first, at most {@link MAX_LISTED_RANGES}. */
  ranges: FrameRange[];
  /** Runs left out of `ranges`. */
  rangesOmitted: number;
}

/** Frames that failed with one error (numbers in it aside: frame numbers, attempts, sizes). */
export interface FailureGroup {
  /** The first such error, at most {@link MAX_ERROR_LENGTH} characters. */
  error: string;
  count: number;
  /** The first frames that failed with it, at most {@link MAX_SAMPLE_FRAMES}. */
  sample: number[];
}

/** The failed frames, as the progress query and the result show them. */
export interface FailedFramesView extends FramesView {
  /** One entry per distinct error, most frames first. */
  errors: FailureGroup[];
}

export const OTHER_ERRORS = '(other errors: too many distinct messages to list)';

/** Caps a message at {@link MAX_ERROR_LENGTH} characters. */
export function capMessage(message: string): string {
  return message.length <= MAX_ERROR_LENGTH ? message : `${message.slice(0, MAX_ERROR_LENGTH - 1)}…`;
}

/**
 * The grouping key of a message: the same error for another frame, attempt or size is the same key.
 * Numbers masked first, then cut well inside the kept length, so the key of a capped message (a
 * group read back after continue-as-new) is the key of the message it was cut from.
 */
const groupKey = (message: string) => message.replace(/\d+/g, '#').slice(0, MAX_ERROR_LENGTH / 2);
const keys = new WeakMap<FailureGroup, string>();
const keyOf = (g: FailureGroup) => {
  let key = keys.get(g);
  if (key === undefined) keys.set(g, (key = groupKey(g.error)));
  return key;
};

/** Adds a failed frame to the groups (in place), keeping them bounded. */
export function addFailure(groups: FailureGroup[], frame: number, message: string): void {
  const key = groupKey(message);
  let group = groups.find((g) => keyOf(g) === key);
  if (!group) {
    if (groups.length < MAX_ERROR_GROUPS) groups.push((group = { error: capMessage(message), count: 0, sample: [] }));
    else {
      group = groups[groups.length - 1];
      if (group.error !== OTHER_ERRORS) groups.push((group = { error: OTHER_ERRORS, count: 0, sample: [] }));
    }
  }
  group.count++;
  if (group.sample.length < MAX_SAMPLE_FRAMES) group.sample.push(frame);
}

/** The groups as shown: most frames first, samples in frame order. */
export function viewGroups(groups: readonly FailureGroup[]): FailureGroup[] {
  return [...groups].sort((a, b) => b.count - a.count).map((g) => ({ ...g, sample: [...g.sample].sort((a, b) => a - b) }));
}

/** "1-3, 7, 9-12" (and how many runs more). */
export function formatRanges(view: Pick<FramesView, 'ranges' | 'rangesOmitted'>): string {
  const text = view.ranges.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(', ');
  return view.rangesOmitted > 0 ? `${text} and ${view.rangesOmitted} more run(s)` : text;
}
