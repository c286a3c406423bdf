import { Context } from '@temporalio/activity';
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
import { DEFAULT_RUN_UP, InvalidSettingsError, laterSettings, stopRuleFor, temporalWeightFor, styleBlendWeightsFor, styleLongSide, type StyleSettings } from '../engine/settings';
import { totalSteps, type OptimisationCheckpoint, type StylizeResult } from '../engine/stylize';
import { framePath, MediaInputError, readImage, resizeImage, writePng } from '../media';
import { DEFAULT_DEGRADE_AFTER_OOMS, FAILURE_TYPES, type FrameHeartbeat, type FrameRecord, type StylizeFrameInput } from '../workflows/contract';
import { readCheckpoint, writeCheckpoint } from './checkpoint';
import { writeFrameView } from './frame-view';
import { NO_FAULTS, type FaultPlan } from './faults';
import { diskFullFailure, isDiskFull } from './media-common';
import { RunUpResults, runUpFrames, withRunUp } from './run-up';
import { frameFingerprint, trajectoryFingerprint } from './fingerprint';
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

interface FrameSidecar {
  fingerprint: string;
  loss: number;
  steps: number;
  backend: string;
  degraded: boolean;
  /** False for a frame the copy engine passed through. */
  stylized?: boolean;
  /**
   * Coherent renders with the stop rule: the style + content loss of this frame's result, and its
   * chain's target (the chain's first optimisation's final one), which the next frame inherits as
   * its target and loss scale (settings.ts stopRuleFor, temporalWeightFor).
   */
  styleContentLoss?: number;
  target?: number;
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

/**
 * Long side to compute at: full size until the frame has run out of memory `degradeAfter` times,
 * then halved for that and every further out-of-memory failure (never below 16 px), so a frame
 * that can never fit at full size still finishes.
 */
export function degradedSize(size: number, ooms: number, degradeAfter: number, minLongSide = 16): number | undefined {
  if (ooms < degradeAfter) return undefined;
  return Math.min(size, Math.max(minLongSide, Math.round(size / 2 ** (ooms - degradeAfter + 1))));
}

/** `err`, or a DiskFull failure in its place when the disk is full: a frame's stylized PNG and checkpoint are each about its content PNG's size. */
async function frameDiskFull(err: unknown, renderDir: string, frame: number, content: string): Promise<unknown> {
  if (!isDiskFull(err)) return err;
  return diskFullFailure(renderDir, async () => ({ bytes: 2 * (await stat(content)).size, what: `frame ${frame} (its stylized PNG and checkpoint)` }));
}

/**
 * The copy engine: the frame passes through unstylized, with a sidecar whose fingerprint (settings
 * with `engine: 'copy'`) no stylized frame shares, so it is never reused as one or mistaken for one.
 */
async function copyFrame(input: StylizeFrameInput, attempt: number, started: number): Promise<FrameRecord> {
  const { frame } = input;
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
  await mkdir(dirname(files.styled), { recursive: true });
  const temp = tempPathFor(files.styled);
  await copyFile(files.content, temp);
  await rename(temp, files.styled);
  const sidecar: FrameSidecar = { fingerprint, loss: 0, steps: 0, backend: COPY_BACKEND, degraded: false, stylized: false };
  await writeFileAtomic(files.sidecar, JSON.stringify(sidecar));
  const record = { ...base, reused: false, seconds: (Date.now() - started) / 1000 };
  await writeFrameView(files, record, { stylized: false, warn: (m) => Context.current().log.warn(m) });
  return record;
}

/** Where a frame's temporal guide is kept until the frame is done (16 bytes a pixel: 2.4 MB at 512×288). */
function guidePath(input: StylizeFrameInput, chunk: number): string {
  return join(renderPaths(input.renderDir).chunk(chunk).flow, `${input.lead ? 'lead' : 'frame'}_${String(input.frame).padStart(6, '0')}.guide`);
}

/**
 * The predecessor's files when this frame starts from its result (Ruder et al.): coherent mode, and
 * that result is on disk. Otherwise (the first frame of a chain, a predecessor that failed, a
 * preview) the frame starts from its content like the first one.
 */
async function warmStartFrom(input: StylizeFrameInput): Promise<(ReturnType<typeof frameFiles> & { target?: number }) | undefined> {
  if (input.previous === undefined || input.chunk === undefined || input.settings.init !== 'prev-warped') return undefined;
  const prev = frameFiles(input.renderDir, checkFrame(input.previous.frame), { chunk: input.chunk, lead: input.previous.lead });
  if (!existsSync(prev.styled) || !existsSync(prev.content)) return undefined;
  if (input.settings.stopTolerance === undefined) return prev;
  // The stop rule needs the chain's target: a predecessor without one (copied, or an earlier release's) starts a chain.
  const target = (await readJson<FrameSidecar>(prev.sidecar))?.target;
  return target !== undefined && Number.isFinite(target) && target > 0 ? { ...prev, target } : undefined;
}

/** A chained render's frame that starts from its content: a chain's first, or one whose predecessor has no result. */
function startsChain(input: StylizeFrameInput): boolean {
  return input.settings.init === 'prev-warped' && input.chunk !== undefined && !input.alone;
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

/** One optimisation of a frame's render: a frame of its run-up, or the frame itself. */
interface Stage {
  frame: number;
  /** Starts from the previous result warped onto this frame, with the temporal term; otherwise from its content. */
  warm: boolean;
  /** The settings it runs: the later epochs when warm. */
  run: StyleSettings;
  steps: number;
  /** Steps of the stages before it: where its steps count from in the frame's heartbeats. */
  offset: number;
}

/** The run-up frames, farthest first (the first of them from its content), then the frame itself. */
function stagesOf(frame: number, runUp: readonly number[], warm: boolean, settings: StyleSettings): Stage[] {
  const later = laterSettings(settings);
  const starts = [...runUp, frame].map((f, i) => ({ frame: f, warm: i > 0 || warm }));
  let offset = 0;
  return starts.map(({ frame: f, warm: w }) => {
    const run = w ? later : settings;
    const stage = { frame: f, warm: w, run, steps: totalSteps(run), offset };
    offset += stage.steps;
    return stage;
  });
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
    private readonly ctx: Context,
    private readonly faults: FaultPlan,
    private beat: FrameHeartbeat,
  ) {
    this.timeoutMs = ctx.info.heartbeatTimeoutMs ?? Infinity;
    ctx.heartbeat(beat);
  }

  async step(step: number, loss: number): Promise<void> {
    // A step is one synchronous tfjs call: nothing heartbeats during it. Warn when steps are so slow
    // that fewer than three heartbeats fit in the timeout (large frames on the wasm/cpu backends).
    const stepMs = Date.now() - this.lastStepAt;
    this.lastStepAt = Date.now();
    if (!this.warnedSlowSteps && stepMs > this.timeoutMs / 3) {
      this.warnedSlowSteps = true;
      this.ctx.log.warn(
        `frame ${this.beat.frame}: one step took ${(stepMs / 1000).toFixed(1)} s, over a third of the ${this.timeoutMs / 1000} s heartbeat timeout; ` +
          'raise --heartbeat-timeout or lower --size, or the frame may be retried as if its worker had died',
      );
    }
    this.beat = { ...this.beat, step, loss };
    this.ctx.heartbeat(this.beat);
    await this.faults.onStep(this.beat.frame, this.ctx.info.attempt, step, this.ctx.cancellationSignal, () => this.ctx.heartbeat(this.beat));
  }

  checkpointed(step: number, path: string): void {
    this.beat = { ...this.beat, checkpointStep: step, checkpoint: path };
    this.ctx.heartbeat(this.beat);
  }
}

/** The settings as they identify a frame: in the coherent mode, whether it started warm or from its content. */
function asStarted(settings: StyleSettings, warm: boolean): StyleSettings {
  return settings.init ? { ...settings, init: warm ? 'prev-warped' : 'content' } : settings;
}

/**
 * A warm frame's temporal guide: computed once from the two content frames and the previous
 * stylized frame, and kept in the chunk's flow/ directory so a retried or resumed attempt reuses it.
 */
async function temporalGuideFor(input: StylizeFrameInput, prev: ReturnType<typeof frameFiles>, content: RgbImage): Promise<TemporalGuide> {
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
    throw new InvalidSettingsError(`${weights.length} style blend weights for ${styles.length} style images; give one weight per --style`);
  }
  const longSide = styleLongSide(settings, settings.size);
  const key = sha256(JSON.stringify({ styles: hashes.map((hash, i) => [hash, longSide, weights[i]]), layers: settings.styleLayers }));
  return engine.styleTargets(key, settings.styleLayers, async () =>
    Promise.all(styles.map(async (path, i) => ({ image: await readImage(path, { longSide }), weight: weights[i] }))),
  );
}

export function createStyleActivities({ engine, weightsId = '', faults = NO_FAULTS, paths }: StyleActivityDeps) {
  return {
    async stylizeFrame(given: StylizeFrameInput): Promise<FrameRecord> {
      const ctx = Context.current();
      const started = Date.now();
      // Anyone who can start a workflow chooses these: check them before touching the disk.
      const input = { ...given, renderDir: checkRenderDir(paths, given.renderDir), frame: checkFrame(given.frame) };
      const { settings, frame } = input;
      const attempt = ctx.info.attempt;
      if (settings.engine === 'copy') {
        return copyFrame(input, attempt, started).catch(async (err: unknown) => {
          throw await frameDiskFull(err, input.renderDir, frame, frameFiles(input.renderDir, frame, input).content);
        });
      }
      if (!engine) {
        throw ApplicationFailure.nonRetryable(
          `frame ${frame}: this worker runs --engine copy and cannot stylize; start workers without --engine copy for this render`,
          FAILURE_TYPES.invalidSettings,
        );
      }
      const files = frameFiles(input.renderDir, frame, input);
      const styles = input.styles ?? [input.style];
      const styleHashes = await Promise.all(styles.map((path) => fileSha256(path)));
      // One style keeps the file's own hash, so frames of earlier releases keep their fingerprints.
      const styleHash = styleHashes.length === 1 ? styleHashes[0] : sha256(styleHashes.join(','));
      const warmFrom = await warmStartFrom(input);
      // A chain's first frame in the coherent mode is reached through its run-up (settings.runUp).
      const runUp = warmFrom || !startsChain(input) ? [] : runUpFrames(frame, settings.runUp ?? DEFAULT_RUN_UP, (f) => existsSync(contentPath(input, f)));
      // A frame started warm is another frame than the same one started from its content (a preview's).
      const fingerprint = withRunUp(frameFingerprint(styleHash, weightsId, asStarted(settings, warmFrom !== undefined)), runUp);
      const base = { frame, backend: engine.backend.name, attempt };

      const done = await readJson<FrameSidecar>(files.sidecar);
      if (done?.fingerprint === fingerprint && existsSync(files.styled)) {
        return { ...base, reused: true, seconds: 0, loss: done.loss, steps: done.steps, resumedFromStep: 0, degraded: done.degraded };
      }

      const ooms = (await readJson<{ count: number }>(files.oomLog))?.count ?? 0;
      const full = await readContent(files.content, frame, attempt);
      // VGG19 needs 16 px on the short side to reach block5, so a degraded frame keeps at least that.
      const minLongSide = Math.ceil((16 * Math.max(full.width, full.height)) / Math.min(full.width, full.height));
      const reducedSize = degradedSize(settings.size, ooms, input.degradeAfterOoms ?? DEFAULT_DEGRADE_AFTER_OOMS, minLongSide);
      const workSize = reducedSize ?? settings.size;
      // Coherent mode: start from the previous frame's result warped along the flow (a degraded frame starts afresh).
      const guide = reducedSize || !warmFrom ? undefined : await temporalGuideFor(input, warmFrom, full);
      // A degraded frame starts afresh, without its run-up (whose results, if any, are deleted at the end).
      const runUpNow = reducedSize ? [] : runUp;
      const runUpResults = runUp.length > 0 ? new RunUpResults(input.renderDir, input.chunk!, frame, fingerprint) : undefined;
      const stages = stagesOf(frame, runUpNow, guide !== undefined, settings);
      const steps = stages.reduce((sum, stage) => sum + stage.steps, 0);
      // A warm start is another trajectory than a start from the content, and each run-up frame its own: their checkpoints never mix.
      const trajectoryOf = (stage: Stage) => {
        const trajectory = trajectoryFingerprint(styleHash, weightsId, { ...asStarted(stage.run, stage.warm), size: workSize });
        return runUpNow.length === 0 ? trajectory : sha256(`${trajectory}:run-up ${runUpNow.join(',')} at ${stage.frame}`);
      };
      // Resume after the last run-up frame an earlier attempt finished, from the checkpoint of the stage after it.
      const finished = runUpNow.length > 0 ? await runUpResults!.lastDone(runUpNow) : undefined;
      // The chain's target: inherited, or set by the first optimisation from content (kept with the run-up's results).
      let target = warmFrom?.target ?? finished?.target;
      let previous = finished && { content: await readContent(contentPath(input, finished.frame), finished.frame, attempt), styled: finished.styled };
      const next = finished ? runUpNow.indexOf(finished.frame) + 1 : 0;
      const resumeFrom = await resumePoint(files.checkpoint, trajectoryOf(stages[next]), stages[next].steps);
      const resumedFromStep = stages[next].offset + (resumeFrom?.step ?? 0);

      const fail = (what: string, fix: string) => `frame ${frame} of ${input.frameCount}, attempt ${attempt}: ${what}. ${fix}`;
      const beats = new FrameBeats(ctx, faults, {
        frame,
        step: resumedFromStep,
        totalSteps: steps,
        loss: NaN,
        checkpointStep: resumedFromStep,
        checkpoint: resumeFrom ? files.checkpoint : undefined,
        degradedSize: reducedSize,
      });
      try {
        const content = reducedSize ? await readImage(files.content, { longSide: reducedSize }) : full;
        const targets = await blendedStyleTargets(engine, styles, styleHashes, { ...settings, size: workSize });
        await mkdir(renderPaths(input.renderDir).checkpoints, { recursive: true });
        let result: StylizeResult | undefined;
        let image: RgbImage | undefined;
        // Steps this frame's stages took: a finished run-up's from its results, a checkpoint's own.
        const stopping = settings.stopTolerance !== undefined && settings.init === 'prev-warped';
        let stepsRun = (finished?.steps ?? stages[next].offset) + (resumeFrom?.step ?? 0);
        for (const stage of stages.slice(next)) {
          const stageContent = stage.frame === frame ? content : await readContent(contentPath(input, stage.frame), stage.frame, attempt);
          // The frame's own guide is cached (temporalGuideFor); a run-up frame's is computed again from the same files.
          const stageGuide = runUpNow.length === 0 ? guide : previous && (await temporalGuide(previous.content, stageContent, previous.styled));
          const trajectory = trajectoryOf(stage);
          result = await engine.stylize({
            content: stageContent,
            targets,
            settings: { ...stage.run, size: workSize },
            // Only the first stage to run can have a checkpoint: each finished run-up frame deletes its own.
            resumeFrom: stage === stages[next] ? resumeFrom : undefined,
            init: stageGuide?.warped,
            temporal: stageGuide && { warped: stageGuide.warped, mask: stageGuide.mask, weight: temporalWeightFor(settings, target ?? NaN) },
            stop: stageGuide && target !== undefined ? stopRuleFor(settings, target, stageGuide.mask, stage.steps) : undefined,
            measureStyleContent: stopping && !stage.warm,
            checkpointEvery: input.checkpointEvery,
            signal: ctx.cancellationSignal,
            onStep: ({ step, loss }) => beats.step(stage.offset + step, loss),
            onCheckpoint: async (c) => {
              await writeCheckpoint(files.checkpoint, trajectory, c);
              beats.checkpointed(stage.offset + c.step, files.checkpoint);
            },
          });
          stepsRun += result.steps - (stage === stages[next] ? (resumeFrom?.step ?? 0) : 0);
          // A chain's first optimisation from content sets the chain's target and loss scale.
          if (!stage.warm && stopping) target = result.styleContentLoss;
          const stylized = reducedSize ? await resizeImage(result.image, full.width, full.height) : result.image;
          // After the optimisation, so checkpoints hold its own image and a resumed frame ends the same.
          image = settings.originalColors ? transferOriginalColors(stylized, stage.frame === frame ? full : stageContent) : stylized;
          if (stage.frame !== frame) {
            previous = { content: stageContent, styled: await runUpResults!.write(stage.frame, image, { target, steps: stepsRun }) };
            await rm(files.checkpoint, { force: true });
          }
        }
        await mkdir(dirname(files.styled), { recursive: true });
        await writePng(files.styled, image!);
        const sidecar: FrameSidecar = {
          fingerprint,
          loss: result!.loss,
          // With the stop rule, the steps this frame's stages took (every attempt's); otherwise what its settings plan.
          steps: stopping ? stepsRun : steps,
          backend: engine.backend.name,
          degraded: reducedSize !== undefined,
          ...(stopping && { styleContentLoss: result!.styleContentLoss, target }),
        };
        await writeFileAtomic(files.sidecar, JSON.stringify(sidecar));
        await rm(files.checkpoint, { force: true });
        // Kept only for a retry of this frame; at 2.4 MB a frame they would outgrow the chunk's PNGs.
        if (guide) await rm(guidePath(input, input.chunk!), { force: true });
        await runUpResults?.remove();
        const record = { ...base, reused: false, seconds: (Date.now() - started) / 1000, loss: result!.loss, steps: sidecar.steps, resumedFromStep, degraded: sidecar.degraded };
        await writeFrameView(files, record, { stylized: true, warn: (m) => ctx.log.warn(m) });
        return record;
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw err;
        if (isOutOfMemory(err)) {
          // Every tensor of the attempt is already released (stylize disposes in `finally`).
          await writeFileAtomic(files.oomLog, JSON.stringify({ count: ooms + 1 }));
          throw ApplicationFailure.retryable(
            fail(
              `out of memory at ${workSize} px (${(err as Error).message.split('\n')[0]})`,
              // Shown while attempts remain and again once they are spent (needs-attention): true in both.
              'Out-of-memory attempts are retried with backoff, at reduced size after repeated failures; if a frame keeps failing, lower --size.',
            ),
            FAILURE_TYPES.outOfMemory,
          );
        }
        if (err instanceof InvalidSettingsError) {
          throw ApplicationFailure.nonRetryable(fail('invalid settings', err.message), FAILURE_TYPES.invalidSettings);
        }
        throw await frameDiskFull(err, input.renderDir, frame, files.content);
      }
    },
  };
}
