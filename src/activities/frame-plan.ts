/**
 * The plan of one frame's attempt: which fingerprint it has, where it starts from (its content, the
 * previous result warped onto it, or a run-up), which optimisations it runs at what size, and where
 * an earlier attempt left off. Pure: the activity (style.ts) reads the disk, hands what it found to
 * these functions, and does what they return — so every decision is tested without tfjs or Temporal.
 */
import { sha256 } from '../common/hash';
import { DEFAULT_RUN_UP, laterSettings, totalSteps, type StyleSettings } from '../engine/settings';
import type { StylizeFrameInput } from '../workflows/contract';
import { frameFingerprint, trajectoryFingerprint } from './fingerprint';

/**
 * A chain's run-up (settings.runUp): the frames after its first that are rendered before it,
 * backwards and farthest first, as far as the chunk has frames (`hasContent`). Empty for 0.
 */
export function runUpFrames(first: number, runUp: number, hasContent: (frame: number) => boolean): number[] {
  const frames: number[] = [];
  for (let f = first + 1; f <= first + runUp && hasContent(f); f++) frames.push(f);
  return frames.reverse();
}

/** A chain start's fingerprint names its run-up: the same frame started from its own content is another one. */
export function withRunUp(fingerprint: string, runUp: readonly number[]): string {
  return runUp.length === 0 ? fingerprint : sha256(`${fingerprint}:run-up ${runUp.join(',')}`);
}

/**
 * Long side to compute at: full size until the frame has run out of memory `degradeAfter` times,
 * then halved for that and every further out-of-memory failure (never below 16 px), so a frame
 * that can never fit at full size still finishes.
 */
export function degradedSize(size: number, ooms: number, degradeAfter: number, minLongSide = 16): number | undefined {
  if (ooms < degradeAfter) return undefined;
  return Math.min(size, Math.max(minLongSide, Math.round(size / 2 ** (ooms - degradeAfter + 1))));
}

/** The settings as they identify a frame: in the coherent mode, whether it started warm or from its content. */
export function asStarted(settings: StyleSettings, warm: boolean): StyleSettings {
  return settings.init ? { ...settings, init: warm ? 'prev-warped' : 'content' } : settings;
}

type FrameWhere = Pick<StylizeFrameInput, 'frame' | 'settings' | 'chunk' | 'previous' | 'alone'>;

/**
 * The predecessor whose result this frame may start from (Ruder et al.): coherent mode, in a chunk,
 * with a predecessor. It does so only if that result is on disk; otherwise (the first frame of a
 * chain, a predecessor that failed, a preview) the frame starts from its content like the first one.
 */
export function warmStartCandidate(input: FrameWhere): StylizeFrameInput['previous'] {
  if (input.previous === undefined || input.chunk === undefined || input.settings.init !== 'prev-warped') return undefined;
  return input.previous;
}

/** What the activity found before it knows the frame's identity. */
export interface IdentityFacts {
  /** sha256 of each style image, in the input's order. */
  styleHashes: readonly string[];
  /** Identifies the weights (their md5). */
  weightsId: string;
  /** The warm-start candidate's result and content are on disk. */
  previousOnDisk: boolean;
  /** Whether the frame's chunk has content frame `frame` (bounds the run-up). */
  hasContent: (frame: number) => boolean;
}

/** Who a frame is: what its finished result's sidecar must name to be reused. */
export interface FrameIdentity {
  styleHash: string;
  weightsId: string;
  /** Starts from the previous frame's result warped onto it. */
  warm: boolean;
  /** A chain start's run-up frames, farthest first; empty for any other frame. */
  runUp: number[];
  fingerprint: string;
}

export function frameIdentity(input: FrameWhere, facts: IdentityFacts): FrameIdentity {
  const { settings, frame } = input;
  const { styleHashes, weightsId } = facts;
  // One style keeps the file's own hash, so frames of earlier releases keep their fingerprints.
  const styleHash = styleHashes.length === 1 ? styleHashes[0] : sha256(styleHashes.join(','));
  const warm = facts.previousOnDisk && warmStartCandidate(input) !== undefined;
  // A chain's first frame in the coherent mode (one that starts from its content) is reached through its run-up.
  const startsChain = settings.init === 'prev-warped' && input.chunk !== undefined && !input.alone;
  const runUp = warm || !startsChain ? [] : runUpFrames(frame, settings.runUp ?? DEFAULT_RUN_UP, facts.hasContent);
  // A frame started warm is another frame than the same one started from its content (a preview's).
  const fingerprint = withRunUp(frameFingerprint(styleHash, weightsId, asStarted(settings, warm)), runUp);
  return { styleHash, weightsId, warm, runUp, fingerprint };
}

/** One optimisation of a frame's attempt: a frame of its run-up, or the frame itself. */
export interface Stage {
  frame: number;
  /** A run-up frame, whose result is kept for the next stage; false for the frame itself. */
  isRunUp: boolean;
  /** Starts from the previous result warped onto this frame, with the temporal term; otherwise from its content. */
  warm: boolean;
  /**
   * The warm start's temporal guide: `cached`, the frame's own (from its predecessor's result, kept
   * between attempts); `previous`, computed from the run-up stage before it; absent when not warm.
   */
  guide?: 'cached' | 'previous';
  /** The settings it runs: the later epochs when warm. */
  run: StyleSettings;
  steps: number;
  /** Steps of the stages before it: where its steps count from in the frame's heartbeats. */
  offset: number;
  /** Its checkpoints' identity: a warm start, a start from the content and each run-up frame never mix. */
  trajectory: string;
}

/** What the activity found once it has read the frame. */
export interface AttemptFacts {
  /** Out-of-memory failures of earlier attempts. */
  ooms: number;
  degradeAfterOoms: number;
  /** The content frame's size at full resolution. */
  width: number;
  height: number;
}

export interface AttemptPlan {
  /** The long side computed at after repeated out-of-memory failures; absent at full size. */
  reducedSize?: number;
  workSize: number;
  /** The frame's own temporal guide is needed (warm, and not degraded: a degraded frame starts afresh). */
  guided: boolean;
  /** The run-up this attempt runs: none when degraded (a degraded frame starts afresh, without it). */
  runUp: number[];
  /** The run-up frames farthest first, then the frame itself. */
  stages: Stage[];
  steps: number;
}

export function planAttempt(settings: StyleSettings, frame: number, identity: FrameIdentity, facts: AttemptFacts): AttemptPlan {
  const { width, height } = facts;
  // VGG19 needs 16 px on the short side to reach block5, so a degraded frame keeps at least that.
  const minLongSide = Math.ceil((16 * Math.max(width, height)) / Math.min(width, height));
  const reducedSize = degradedSize(settings.size, facts.ooms, facts.degradeAfterOoms, minLongSide);
  const workSize = reducedSize ?? settings.size;
  const guided = identity.warm && reducedSize === undefined;
  const runUp = reducedSize === undefined ? identity.runUp : [];
  const later = laterSettings(settings);
  const trajectoryOf = (frameOf: number, run: StyleSettings, warm: boolean) => {
    const trajectory = trajectoryFingerprint(identity.styleHash, identity.weightsId, { ...asStarted(run, warm), size: workSize });
    return runUp.length === 0 ? trajectory : sha256(`${trajectory}:run-up ${runUp.join(',')} at ${frameOf}`);
  };
  let offset = 0;
  const stages = [...runUp, frame].map((f, i): Stage => {
    // The first run-up frame starts from its content; each after it from the one before.
    const warm = i > 0 || guided;
    const run = warm ? later : settings;
    const guide = !warm ? undefined : runUp.length === 0 ? 'cached' : 'previous';
    const stage = { frame: f, isRunUp: i < runUp.length, warm, guide, run, steps: totalSteps(run), offset, trajectory: trajectoryOf(f, run, warm) } as const;
    offset += stage.steps;
    return stage;
  });
  return { reducedSize, workSize, guided, runUp, stages, steps: offset };
}

/**
 * The stage this attempt starts at: after the last run-up frame an earlier attempt finished
 * (`lastRunUpDone`), else the first. Its checkpoint, if any, continues it.
 */
export function firstStage(plan: AttemptPlan, lastRunUpDone?: number): number {
  return lastRunUpDone === undefined ? 0 : plan.runUp.indexOf(lastRunUpDone) + 1;
}
