import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tempPathFor, writeFileAtomic } from '../common/atomic';
import { fileSha256, sha256 } from '../common/hash';
import type { StyleEngine } from '../engine/engine';
import { isOutOfMemory } from '../engine/oom';
import { decodeGuide, encodeGuide, temporalGuide, type TemporalGuide } from '../engine/flow';
import type { RgbImage } from '../media/types';
import { transferOriginalColors } from '../engine/color';
import { InvalidSettingsError, isSceneCut, laterSettings, stopRuleFor, usesSettled, styleBlendWeightsFor, styleLongSide, temporalWeightFor, type ChainTarget, type SettingProblem, type StyleSettings } from '../engine/settings';
import type { OptimisationCheckpoint, StylizeResult } from '../engine/stylize';
import { framePath, imageSize, MediaInputError, readImage, resizeImage, writePng } from '../media';
import { DEFAULT_DEGRADE_AFTER_OOMS, FAILURE_TYPES, type FrameHeartbeat, type FrameRecord, type StylizeFrameInput } from '../workflows/contract';
import { checkpointBytes, readCheckpoint, writeCheckpoint } from './checkpoint';
import { writeFrameView } from './frame-view';
import { NO_FAULTS, type FaultPlan } from './faults';
import { activityScope, type ActivityScope } from './scope';
import { RunUpResults } from './run-up';
import { frameFingerprint } from './fingerprint';
import { firstStage, frameIdentity, planAttempt, warmStartCandidate, type AttemptPlan, type FrameIdentity } from './frame-plan';
import { diskFullFailure, isDiskFull } from './media-common';
import { chainTargetFields, chainTargetFrom, type ChainTargetFields } from './chain-target';
import { checkChunk, checkFrame, checkRenderDir, renderPaths, type PathPolicy } from './paths';

export interface StyleActivityDeps {
  /** The style transfer engine; absent on a worker started with --engine copy, which only copies frames. */
  engine?: StyleEngine;
  /** Identifies the weights in fingerprints (their md5). */
  weightsId?: string;
  /** Test-only fault injection (see faults.ts). */
  faults?: FaultPlan;
  /** Where this worker may write: every render directory is checked against it first. */
  paths: PathPolicy;
}

/** The backend name a frame passed through by the copy engine reports. */
export const COPY_BACKEND = 'copy (not stylized)';

interface FrameSidecar extends ChainTargetFields {
  fingerprint: string;
  loss: number;
  steps: number;
  backend: string;
  degraded: boolean;
  /** False for a frame the copy engine passed through. */
  stylized?: boolean;
  /**
   * Coherent renders with the stop rule: the style + content loss of this frame's result. Beside it
   * (ChainTargetFields) its chain's target, the chain's first optimisation's final loss, which the
   * next frame inherits as its target and loss scale (settings.ts stopRuleFor, temporalWeightFor).
   */
  styleContentLoss?: number;
  /**
   * The same of the result as stored (8-bit, with original colours if asked), which an identical next
   * frame starts from: its stop rule's `settled` (settings.ts stopRuleFor). Renders whose warm frames
   * name their optimiser (laterOptimizer) only, at the frame's own size.
   */
  storedLoss?: number;
}

/**
 * A frame's files. A chunked render's content frames are in their chunk's directory; a lead-in
 * frame's result and checkpoint are kept apart from the same frame's own (the previous chunk's).
 */
function frameFiles(renderDir: string, frame: number, where: Pick<StylizeFrameInput, 'chunk' | 'lead'> = {}) {
  const paths = renderPaths(renderDir);
  const chunk = where.chunk === undefined ? undefined : paths.chunk(checkChunk(where.chunk));
  const styled = framePath(where.lead && chunk ? chunk.lead : paths.styled, frame);
  const stem = join(paths.checkpoints, `${where.lead ? 'lead' : 'frame'}_${String(frame).padStart(6, '0')}`);
  return {
    content: framePath(chunk ? chunk.frames : paths.frames, frame),
    styled,
    sidecar: styled.replace(/\.png$/, '.json'),
    checkpoint: `${stem}.ckpt`,
    /** Out-of-memory count, on disk so it survives the worker that ran out. */
    oomLog: `${stem}.oom.json`,
  };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** `err`, or a DiskFull failure in its place when the disk is full, saying how much the rest of the render needs. */
async function frameDiskFull(err: unknown, input: Pick<StylizeFrameInput, 'renderDir' | 'frame' | 'frameCount' | 'chunk' | 'lead' | 'settings'>): Promise<unknown> {
  if (!isDiskFull(err)) return err;
  return diskFullFailure(input.renderDir, () => renderNeed(input));
}

/**
 * What the frames from this one on that have no stylized PNG yet take: each a PNG about its content
 * PNG's size, and one checkpoint at a time (the one on disk, or the larger of a first and a warm
 * frame's optimiser's: checkpointBytes).
 */
async function renderNeed(input: Pick<StylizeFrameInput, 'renderDir' | 'frame' | 'frameCount' | 'chunk' | 'lead' | 'settings'>): Promise<{ bytes: number; what: string }> {
  const files = frameFiles(input.renderDir, input.frame, input);
  const png = (await stat(files.content)).size;
  const checkpoint = await stat(files.checkpoint).then(
    (s) => s.size,
    async () => {
      const { width, height } = await imageSize(files.content);
      const optimisers = [input.settings, ...(input.settings.init === 'prev-warped' ? [laterSettings(input.settings)] : [])];
      return Math.max(...optimisers.map((s) => checkpointBytes(s.optimizer, width, height)));
    },
  );
  let left = 0;
  for (let k = input.frame; k <= Math.max(input.frame, input.frameCount); k++) if (!existsSync(frameFiles(input.renderDir, k, input).styled)) left++;
  left = Math.max(left, 1);
  const frames = left === 1 ? `frame ${input.frame}` : `${left} frames from frame ${input.frame} on`;
  return { bytes: left * png + checkpoint, what: `the rest of the render (${frames} to stylize: a PNG each and one checkpoint at a time)` };
}

/**
 * The copy engine: the frame passes through unstylized, with a sidecar whose fingerprint (settings
 * with `engine: 'copy'`) no stylized frame shares, so it is never reused as one or mistaken for one.
 */
async function copyFrame(input: StylizeFrameInput, ctx: ActivityScope, faults: FaultPlan, started: number): Promise<FrameRecord> {
  const { frame } = input;
  const attempt = ctx.attempt;
  const files = frameFiles(input.renderDir, frame, input);
  const fingerprint = frameFingerprint('unstylized', 'copy', input.settings);
  const base = { frame, backend: COPY_BACKEND, attempt, loss: 0, steps: 0, resumedFromStep: 0, degraded: false };
  const done = await readJson<FrameSidecar>(files.sidecar);
  if (done?.fingerprint === fingerprint && existsSync(files.styled)) return { ...base, reused: true, seconds: 0 };
  if (!existsSync(files.content)) {
    throw ApplicationFailure.nonRetryable(
      `frame ${frame} of ${input.frameCount}, attempt ${attempt}: "${files.content}" does not exist. Delete the render's frames/ directory and start the render again.`,
      FAILURE_TYPES.mediaInput,
    );
  }
  // A copy frame has no optimisation steps: it is at step 0 until copied (a test's stall@K:0 holds it there).
  await faults.onStep(frame, attempt, 0, ctx.cancellationSignal, () => ctx.heartbeat());
  await mkdir(dirname(files.styled), { recursive: true });
  const temp = tempPathFor(files.styled);
  await copyFile(files.content, temp);
  await rename(temp, files.styled);
  const sidecar: FrameSidecar = { fingerprint, loss: 0, steps: 0, backend: COPY_BACKEND, degraded: false, stylized: false };
  await writeFileAtomic(files.sidecar, JSON.stringify(sidecar));
  const record = { ...base, reused: false, seconds: (Date.now() - started) / 1000 };
  await writeFrameView(files, record, { stylized: false, warn: (m) => activityScope().warn(m) });
  return record;
}

/** Where a frame's temporal guide is kept until the frame is done (16 bytes a pixel: 2.4 MB at 512×288). */
function guidePath(input: StylizeFrameInput, chunk: number): string {
  return join(renderPaths(input.renderDir).chunk(chunk).flow, `${input.lead ? 'lead' : 'frame'}_${String(input.frame).padStart(6, '0')}.guide`);
}

type FrameFiles = ReturnType<typeof frameFiles>;

/**
 * The warm-start candidate's files (frame-plan.ts warmStartCandidate), if its result and content are
 * on disk; with the stop rule (settings.stopTolerance) also its chain's target, without which it is none.
 */
async function warmStartFrom(input: StylizeFrameInput): Promise<(FrameFiles & { chain?: ChainTarget; settled?: number }) | undefined> {
  const previous = warmStartCandidate(input);
  if (!previous) return undefined;
  const prev = frameFiles(input.renderDir, checkFrame(previous.frame), { chunk: input.chunk, lead: previous.lead });
  if (!existsSync(prev.styled) || !existsSync(prev.content)) return undefined;
  if (input.settings.stopTolerance === undefined) return prev;
  // The stop rule needs the chain's target: a predecessor without one (copied, or an earlier release's) starts a chain.
  const sidecar = await readJson<FrameSidecar>(prev.sidecar);
  const chain = chainTargetFrom(sidecar);
  // Its result's loss as stored, for the stop rule's `settled` (absent at a reduced size).
  return chain && { ...prev, chain, settled: sidecar!.storedLoss };
}

/**
 * The warm start, unless the frame is a scene cut (settings.sceneCut: its guide trusts too little of
 * the flow), which starts a new chain from its content. The guide computed to tell is the one a warm
 * frame uses (kept for it); a cut's is removed, as it will not be.
 */
async function notAtSceneCut<T extends FrameFiles>(input: StylizeFrameInput, warmFrom: T | undefined, content: () => Promise<RgbImage>): Promise<T | undefined> {
  if (!warmFrom || !input.settings.sceneCut) return warmFrom;
  const guide = await temporalGuideFor(input, warmFrom, await content());
  if (!isSceneCut(input.settings, guide.mask)) return warmFrom;
  await dropGuide(input);
  return undefined;
}

/** Removes the frame's kept temporal guide, if any: once the frame is done, or known not to use it. */
async function dropGuide(input: StylizeFrameInput): Promise<void> {
  if (input.chunk !== undefined) await rm(guidePath(input, input.chunk), { force: true });
}

/** Content frame `frame` of the input's chunk (or of the render, unchunked). */
function contentPath(input: StylizeFrameInput, frame: number): string {
  return frameFiles(input.renderDir, frame, { chunk: input.chunk }).content;
}

/** An extracted frame, or a non-retryable failure that says how to get it back. */
async function readContent(path: string, frame: number, attempt: number): Promise<RgbImage> {
  return readImage(path, { hint: "The extracted frame is damaged; delete the render's frames/ directory and start the render again." }).catch((err: unknown) => {
    if (err instanceof MediaInputError) {
      throw ApplicationFailure.nonRetryable(`frame ${frame}, attempt ${attempt}: ${err.message}`, FAILURE_TYPES.mediaInput);
    }
    throw err;
  });
}

/** The checkpoint to continue `trajectory` from, if one is on disk and short of its `steps`. */
async function resumePoint(path: string, trajectory: string, steps: number): Promise<OptimisationCheckpoint | undefined> {
  const checkpoint = await readCheckpoint(path, trajectory);
  return checkpoint && checkpoint.step < steps ? checkpoint : undefined;
}

/**
 * A frame's heartbeats: progress in steps across its stages, checkpoints, a warning when steps are
 * too slow for the heartbeat timeout, and the test-only faults.
 */
class FrameBeats {
  private lastStepAt = Date.now();
  private warnedSlowSteps = false;
  private readonly timeoutMs: number;

  constructor(
    private readonly ctx: ActivityScope,
    private readonly faults: FaultPlan,
    private beat: FrameHeartbeat,
  ) {
    this.timeoutMs = ctx.heartbeatTimeoutMs ?? Infinity;
    ctx.heartbeat(beat);
  }

  async step(step: number, loss: number): Promise<void> {
    // A step is one synchronous tfjs call: nothing heartbeats during it. Warn when steps are so slow
    // that fewer than three heartbeats fit in the timeout (large frames on the wasm/cpu backends).
    const stepMs = Date.now() - this.lastStepAt;
    this.lastStepAt = Date.now();
    if (!this.warnedSlowSteps && stepMs > this.timeoutMs / 3) {
      this.warnedSlowSteps = true;
      this.ctx.warn(
        `frame ${this.beat.frame}: one step took ${(stepMs / 1000).toFixed(1)} s, over a third of the ${this.timeoutMs / 1000} s heartbeat timeout; ` +
          'raise {heartbeatTimeoutSeconds} or lower {size}, or the frame may be retried as if its worker had died',
      );
    }
    this.beat = { ...this.beat, step, loss };
    this.ctx.heartbeat(this.beat);
    await this.faults.onStep(this.beat.frame, this.ctx.attempt, step, this.ctx.cancellationSignal, () => this.ctx.heartbeat(this.beat));
  }

  checkpointed(step: number, path: string): void {
    this.beat = { ...this.beat, checkpointStep: step, checkpoint: path };
    this.ctx.heartbeat(this.beat);
  }
}

/**
 * A warm frame's temporal guide: computed once from the two content frames and the previous
 * stylized frame, and kept in the chunk's flow/ directory so a retried or resumed attempt reuses it.
 */
async function temporalGuideFor(input: StylizeFrameInput, prev: FrameFiles, content: RgbImage): Promise<TemporalGuide> {
  const cache = guidePath(input, input.chunk!);
  const cached = await readFile(cache).then(decodeGuide, () => undefined);
  if (cached && cached.warped.width === content.width && cached.warped.height === content.height) return cached;
  const [prevContent, prevStyled] = await Promise.all([readImage(prev.content), readImage(prev.styled)]);
  const guide = await temporalGuide(prevContent, content, prevStyled);
  await mkdir(dirname(cache), { recursive: true });
  await writeFileAtomic(cache, encodeGuide(guide));
  return guide;
}

/**
 * The style targets of a frame: every style image read at `size × styleScale` on its long side and
 * blended with its weight, cached under a key naming each style's hash, size and weight.
 */
async function blendedStyleTargets(engine: StyleEngine, styles: readonly string[], hashes: readonly string[], settings: StyleSettings) {
  const weights = styleBlendWeightsFor(settings, styles.length);
  if (weights.length !== styles.length) {
    const problem: SettingProblem = {
      key: 'styleBlendWeights',
      message: `{styleBlendWeights} has ${weights.length} weights for ${styles.length} style images; give one weight per style image`,
    };
    throw new InvalidSettingsError(problem.message, problem);
  }
  const longSide = styleLongSide(settings, settings.size);
  const key = sha256(JSON.stringify({ styles: hashes.map((hash, i) => [hash, longSide, weights[i]]), layers: settings.styleLayers }));
  return engine.styleTargets(key, settings.styleLayers, async () =>
    Promise.all(styles.map(async (path, i) => ({ image: await readImage(path, { longSide }), weight: weights[i] }))),
  );
}

/** A finished run-up frame: what the next stage's guide is computed from. */
interface StagePrevious {
  content: RgbImage;
  styled: RgbImage;
}

/** One attempt at a stylized frame, once planned: what it runs and what earlier attempts left. */
interface Attempt {
  ctx: ActivityScope;
  engine: StyleEngine;
  input: StylizeFrameInput;
  files: FrameFiles;
  styles: readonly string[];
  styleHashes: readonly string[];
  identity: FrameIdentity;
  plan: AttemptPlan;
  /** The content frame at full size. */
  full: RgbImage;
  /** The frame's own temporal guide (plan.guided). */
  guide?: TemporalGuide;
  /** A chain start's run-up results (kept across attempts; removed when the frame is done). */
  runUpResults?: RunUpResults;
  /** The stage to start at (firstStage), the run-up result before it, and its checkpoint. */
  next: number;
  previous?: StagePrevious;
  resumeFrom?: OptimisationCheckpoint;
  /** The stop rule's chain target on entry: the predecessor's, or a finished run-up's; absent when a stage from content sets it. */
  chain?: ChainTarget;
  /** Steps the finished run-up frames took (kept with their results); absent when none is finished. */
  runUpSteps?: number;
  /** The style + content + tv, as stored, of the result the next stage starts from (stopRuleFor's `settled`): the predecessor's, or a finished run-up frame's. */
  settled?: number;
}

/** What an attempt's stages ran to: the last optimisation, the frame's image, the chain's target and every stage's steps. */
interface StagesRun {
  result: StylizeResult;
  image: RgbImage;
  chain?: ChainTarget;
  /** Steps this frame's stages took, across attempts (with the stop rule, fewer than planned). */
  stepsRun: number;
  /** Coherent mode with the stop rule: the sidecar records stepsRun, styleContentLoss and target. */
  stopping: boolean;
  /** Scores the result as stored, for the sidecar's storedLoss; absent where the stop rule has no `settled`. */
  scoreStored?: (stored: RgbImage, content: RgbImage) => number;
}

/**
 * What earlier attempts left: the last run-up frame finished (with the chain's target and the steps
 * taken up to it, kept with its result), and the next stage's checkpoint.
 */
async function resumeState(input: StylizeFrameInput, files: FrameFiles, plan: AttemptPlan, runUpResults: RunUpResults | undefined, attempt: number) {
  const finished = plan.runUp.length > 0 ? await runUpResults!.lastDone(plan.runUp) : undefined;
  const previous = finished && { content: await readContent(contentPath(input, finished.frame), finished.frame, attempt), styled: finished.styled };
  const next = firstStage(plan, finished?.frame);
  const resumeFrom = await resumePoint(files.checkpoint, plan.stages[next].trajectory, plan.stages[next].steps);
  return { next, previous, resumeFrom, chain: finished?.chain, steps: finished?.steps, settled: finished?.settled };
}

/** Runs the attempt's stages from `next`; returns the last optimisation's result, the frame's image, the chain's target and the steps taken. */
async function runStages(a: Attempt, beats: FrameBeats): Promise<StagesRun> {
  const { input, plan, files, full, ctx } = a;
  const { settings, frame } = input;
  const content = plan.reducedSize ? await readImage(files.content, { longSide: plan.reducedSize }) : full;
  const targets = await blendedStyleTargets(a.engine, a.styles, a.styleHashes, { ...settings, size: plan.workSize });
  await mkdir(renderPaths(input.renderDir).checkpoints, { recursive: true });
  let previous = a.previous;
  let last: { result: StylizeResult; image: RgbImage } | undefined;
  const stopping = settings.stopTolerance !== undefined && settings.init === 'prev-warped';
  // The chain's target: inherited, or set by the first optimisation from content (kept with the run-up's results).
  let chain = a.chain;
  // What the stage to run is compared with before its first step (stopRuleFor's `settled`): its predecessor's result's loss as stored.
  let settled = a.settled;
  // Measured where stopRuleFor uses it (usesSettled), at the frame's own size.
  const scoreStored =
    stopping && usesSettled(settings) && !plan.reducedSize
      ? (stored: RgbImage, stageContent: RgbImage) => a.engine.measureStyleContent({ content: stageContent, image: stored, targets, settings: { ...settings, size: plan.workSize } })
      : undefined;
  // Steps this frame's stages took: a finished run-up's from its results, a checkpoint's own.
  let stepsRun = (a.runUpSteps ?? plan.stages[a.next].offset) + (a.resumeFrom?.step ?? 0);
  for (const stage of plan.stages.slice(a.next)) {
    const stageContent = stage.isRunUp ? await readContent(contentPath(input, stage.frame), stage.frame, ctx.attempt) : content;
    // The frame's own guide is cached (temporalGuideFor); a run-up frame's is computed again from the same files.
    const guide = stage.guide === 'cached' ? a.guide : stage.guide === 'previous' ? await temporalGuide(previous!.content, stageContent, previous!.styled) : undefined;
    const result = await a.engine.stylize({
      content: stageContent,
      targets,
      settings: { ...stage.run, size: plan.workSize },
      // Only the first stage to run can have a checkpoint: each finished run-up frame deletes its own.
      resumeFrom: stage === plan.stages[a.next] ? a.resumeFrom : undefined,
      init: guide?.warped,
      temporal: guide && { warped: guide.warped, mask: guide.mask, weight: temporalWeightFor(settings, chain?.loss ?? NaN) },
      stop: guide && chain ? stopRuleFor(settings, chain, guide.mask, stage.steps, settled) : undefined,
      measureStyleContent: stopping && !stage.warm,
      checkpointEvery: input.checkpointEvery,
      signal: ctx.cancellationSignal,
      onStep: ({ step, loss }) => beats.step(stage.offset + step, loss),
      onCheckpoint: async (c) => {
        await writeCheckpoint(files.checkpoint, stage.trajectory, c);
        beats.checkpointed(stage.offset + c.step, files.checkpoint);
      },
    });
    stepsRun += result.steps - (stage === plan.stages[a.next] ? (a.resumeFrom?.step ?? 0) : 0);
    // A chain's first optimisation from content sets the chain's target and loss scale.
    if (!stage.warm && stopping) chain = { loss: result.styleContentLoss, ...(result.styleContentTerms && { terms: result.styleContentTerms }) };
    const stylized = plan.reducedSize ? await resizeImage(result.image, full.width, full.height) : result.image;
    // After the optimisation, so checkpoints hold its own image and a resumed frame ends the same.
    const image = settings.originalColors ? transferOriginalColors(stylized, stage.isRunUp ? stageContent : full) : stylized;
    if (stage.isRunUp) {
      const kept = await a.runUpResults!.write(stage.frame, image, { chain, steps: stepsRun }, scoreStored && ((stored) => scoreStored(stored, stageContent)));
      previous = { content: stageContent, styled: kept.styled };
      settled = kept.settled;
      await rm(files.checkpoint, { force: true });
    }
    last = { result, image };
  }
  if (!last) throw new Error(`frame ${frame}: its plan has no stage to run`);
  return { ...last, chain, stepsRun, stopping, scoreStored };
}

/** Writes the finished frame and its sidecar, then removes what only a retry of it would have used. */
async function keepFrame(a: Attempt, { result, image, chain, stepsRun, stopping, scoreStored }: StagesRun): Promise<FrameSidecar> {
  const { files, input, plan } = a;
  await mkdir(dirname(files.styled), { recursive: true });
  await writePng(files.styled, image);
  // Scored as the next frame reads it back.
  const storedLoss = scoreStored?.(await readImage(files.styled), a.full);
  const sidecar: FrameSidecar = {
    fingerprint: a.identity.fingerprint,
    loss: result.loss,
    // With the stop rule, the steps this frame's stages took (every attempt's); otherwise what its plan has.
    steps: stopping ? stepsRun : plan.steps,
    backend: a.engine.backend.name,
    degraded: plan.reducedSize !== undefined,
    ...(stopping && { styleContentLoss: result.styleContentLoss, ...chainTargetFields(chain) }),
    ...(storedLoss !== undefined && { storedLoss }),
  };
  await writeFileAtomic(files.sidecar, JSON.stringify(sidecar));
  await rm(files.checkpoint, { force: true });
  // Kept only for a retry of this frame; at 2.4 MB a frame they would outgrow the chunk's PNGs.
  // Also a degraded frame's, which the scene-cut test computed (notAtSceneCut) and the frame did not use.
  await dropGuide(input);
  await a.runUpResults?.remove();
  return sidecar;
}

/** The failure an attempt's error becomes: out of memory is counted and retried, bad settings are not retried. */
async function attemptFailure(err: unknown, a: Attempt, ooms: number): Promise<unknown> {
  const { ctx, input, files, plan } = a;
  if (ctx.cancellationSignal.aborted) return err;
  const fail = (what: string, fix: string) => `frame ${input.frame} of ${input.frameCount}, attempt ${ctx.attempt}: ${what}. ${fix}`;
  if (isOutOfMemory(err)) {
    // Every tensor of the attempt is already released (stylize disposes in `finally`).
    await writeFileAtomic(files.oomLog, JSON.stringify({ count: ooms + 1 }));
    return ApplicationFailure.retryable(
      fail(
        `out of memory at ${plan.workSize} px (${(err as Error).message.split('\n')[0]})`,
        // Shown while attempts remain and again once they are spent (needs-attention): true in both.
        'Out-of-memory attempts are retried with backoff, at reduced size after repeated failures; if a frame keeps failing, lower {size}.',
      ),
      FAILURE_TYPES.outOfMemory,
    );
  }
  if (err instanceof InvalidSettingsError) {
    return ApplicationFailure.nonRetryable(fail('invalid settings', err.message), FAILURE_TYPES.invalidSettings);
  }
  return frameDiskFull(err, input);
}

export function createStyleActivities({ engine, weightsId = '', faults = NO_FAULTS, paths }: StyleActivityDeps) {
  return {
    /** Plans the frame's attempt from what is on disk (frame-plan.ts), then runs it. */
    async stylizeFrame(given: StylizeFrameInput): Promise<FrameRecord> {
      const ctx = activityScope();
      const started = Date.now();
      // Anyone who can start a workflow chooses these: check them before touching the disk.
      const input = { ...given, renderDir: checkRenderDir(paths, given.renderDir), frame: checkFrame(given.frame) };
      const { settings, frame } = input;
      const attempt = ctx.attempt;
      if (settings.engine === 'copy') {
        return copyFrame(input, ctx, faults, started).catch(async (err: unknown) => {
          throw await frameDiskFull(err, input);
        });
      }
      if (!engine) {
        throw ApplicationFailure.nonRetryable(
          `frame ${frame}: this worker runs {engine} copy and cannot stylize; start workers without {engine} copy for this render`,
          FAILURE_TYPES.invalidSettings,
        );
      }
      const files = frameFiles(input.renderDir, frame, input);
      const styles = input.styles ?? [input.style];
      const styleHashes = await Promise.all(styles.map((path) => fileSha256(path)));
      // Read once, when first needed: by the scene-cut test, or by the attempt below (not by a reused frame).
      let contentRead: Promise<RgbImage> | undefined;
      const content = () => (contentRead ??= readContent(files.content, frame, attempt));
      const warmFrom = await notAtSceneCut(input, await warmStartFrom(input), content);
      const hasContent = (f: number) => existsSync(contentPath(input, f));
      const identity = frameIdentity(input, { styleHashes, weightsId, previousOnDisk: warmFrom !== undefined, hasContent });
      const base = { frame, backend: engine.backend.name, attempt };

      const done = await readJson<FrameSidecar>(files.sidecar);
      if (done?.fingerprint === identity.fingerprint && existsSync(files.styled)) {
        // The guide the scene-cut test computed, which nothing will use.
        if (input.settings.sceneCut) await dropGuide(input);
        return { ...base, reused: true, seconds: 0, loss: done.loss, steps: done.steps, resumedFromStep: 0, degraded: done.degraded };
      }

      const ooms = (await readJson<{ count: number }>(files.oomLog))?.count ?? 0;
      const full = await content();
      const degradeAfterOoms = input.degradeAfterOoms ?? DEFAULT_DEGRADE_AFTER_OOMS;
      const plan = planAttempt(settings, frame, identity, { ooms, degradeAfterOoms, width: full.width, height: full.height });
      // Coherent mode: start from the previous frame's result warped along the flow.
      const guide = plan.guided ? await temporalGuideFor(input, warmFrom!, full) : undefined;
      // Made whenever the frame has a run-up, also when degraded: its results are deleted at the end.
      const runUpResults = identity.runUp.length > 0 ? new RunUpResults(input.renderDir, input.chunk!, frame, identity.fingerprint) : undefined;
      const { chain, steps: runUpSteps, settled, ...resume } = await resumeState(input, files, plan, runUpResults, attempt);
      // The chain's target: the predecessor's, or a finished run-up's, or set by the first optimisation from content.
      const a: Attempt = { ctx, engine, input, files, styles, styleHashes, identity, plan, full, guide, runUpResults, ...resume, chain: warmFrom?.chain ?? chain, runUpSteps, settled: warmFrom?.settled ?? settled };
      const resumedFromStep = plan.stages[resume.next].offset + (resume.resumeFrom?.step ?? 0);
      const beats = new FrameBeats(ctx, faults, {
        frame,
        step: resumedFromStep,
        totalSteps: plan.steps,
        loss: NaN,
        checkpointStep: resumedFromStep,
        checkpoint: resume.resumeFrom ? files.checkpoint : undefined,
        degradedSize: plan.reducedSize,
      });
      try {
        const ran = await runStages(a, beats);
        const sidecar = await keepFrame(a, ran);
        const seconds = (Date.now() - started) / 1000;
        const record = { ...base, reused: false, seconds, loss: ran.result.loss, steps: sidecar.steps, resumedFromStep, degraded: sidecar.degraded };
        await writeFrameView(files, record, { stylized: true, warn: (m) => ctx.warn(m) });
        return record;
      } catch (err) {
        throw await attemptFailure(err, a, ooms);
      }
    },
  };
}
