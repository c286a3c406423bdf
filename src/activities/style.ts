import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tempPathFor, writeFileAtomic } from '../common/atomic';
import { fileSha256, sha256 } from '../common/hash';
import type { StyleEngine } from '../engine/engine';
import { isOutOfMemory } from '../engine/oom';
import { decodeGuide, encodeGuide, temporalGuide, type TemporalGuide } from '../engine/flow';
import type { RgbImage } from '../media/types';
import { transferOriginalColors } from '../engine/color';
import { defaultTemporalWeight, InvalidSettingsError, styleBlendWeightsFor, styleLongSide, type StyleSettings } from '../engine/settings';
import { totalSteps } from '../engine/stylize';
import { framePath, MediaInputError, readImage, resizeImage, writePng } from '../media';
import { DEFAULT_DEGRADE_AFTER_OOMS, FAILURE_TYPES, type FrameHeartbeat, type FrameRecord, type StylizeFrameInput } from '../workflows/contract';
import { readCheckpoint, writeCheckpoint } from './checkpoint';
import { NO_FAULTS, type FaultPlan } from './faults';
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
  return { ...base, reused: false, seconds: (Date.now() - started) / 1000 };
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
function warmStartFrom(input: StylizeFrameInput): ReturnType<typeof frameFiles> | undefined {
  if (input.previous === undefined || input.chunk === undefined || input.settings.init !== 'prev-warped') return undefined;
  const prev = frameFiles(input.renderDir, checkFrame(input.previous.frame), { chunk: input.chunk, lead: input.previous.lead });
  return existsSync(prev.styled) && existsSync(prev.content) ? prev : undefined;
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
      if (settings.engine === 'copy') return copyFrame(input, attempt, started);
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
      const warmFrom = warmStartFrom(input);
      // A frame started warm is another frame than the same one started from its content (a preview's).
      const fingerprint = frameFingerprint(styleHash, weightsId, asStarted(settings, warmFrom !== undefined));
      const base = { frame, backend: engine.backend.name, attempt };

      const done = await readJson<FrameSidecar>(files.sidecar);
      if (done?.fingerprint === fingerprint && existsSync(files.styled)) {
        return { ...base, reused: true, seconds: 0, loss: done.loss, steps: done.steps, resumedFromStep: 0, degraded: done.degraded };
      }

      const ooms = (await readJson<{ count: number }>(files.oomLog))?.count ?? 0;
      const full = await readImage(files.content, {
        hint: "The extracted frame is damaged; delete the render's frames/ directory and start the render again.",
      }).catch((err: unknown) => {
        if (err instanceof MediaInputError) {
          throw ApplicationFailure.nonRetryable(`frame ${frame}, attempt ${attempt}: ${err.message}`, FAILURE_TYPES.mediaInput);
        }
        throw err;
      });
      // VGG19 needs 16 px on the short side to reach block5, so a degraded frame keeps at least that.
      const minLongSide = Math.ceil((16 * Math.max(full.width, full.height)) / Math.min(full.width, full.height));
      const reducedSize = degradedSize(settings.size, ooms, input.degradeAfterOoms ?? DEFAULT_DEGRADE_AFTER_OOMS, minLongSide);
      const workSize = reducedSize ?? settings.size;
      // Coherent mode: start from the previous frame's result warped along the flow (a degraded frame starts afresh).
      const guide = reducedSize || !warmFrom ? undefined : await temporalGuideFor(input, warmFrom, full);
      const run = guide ? { ...settings, epochs: settings.laterEpochs ?? settings.epochs } : settings;
      // A warm start is another trajectory than a start from the content: their checkpoints never mix.
      const trajectory = trajectoryFingerprint(styleHash, weightsId, { ...asStarted(run, guide !== undefined), size: workSize });
      const steps = totalSteps(run);
      let resumeFrom = await readCheckpoint(files.checkpoint, trajectory);
      if (resumeFrom && resumeFrom.step >= steps) resumeFrom = undefined;

      const fail = (what: string, fix: string) => `frame ${frame} of ${input.frameCount}, attempt ${attempt}: ${what}. ${fix}`;
      let beat: FrameHeartbeat = {
        frame,
        step: resumeFrom?.step ?? 0,
        totalSteps: steps,
        loss: NaN,
        checkpointStep: resumeFrom?.step ?? 0,
        checkpoint: resumeFrom ? files.checkpoint : undefined,
        degradedSize: reducedSize,
      };
      ctx.heartbeat(beat);
      // A step is one synchronous tfjs call: nothing heartbeats during it. Warn when steps are so slow
      // that fewer than three heartbeats fit in the timeout (large frames on the wasm/cpu backends).
      const heartbeatTimeoutMs = ctx.info.heartbeatTimeoutMs ?? Infinity;
      let lastStepAt = Date.now();
      let warnedSlowSteps = false;
      try {
        const content = reducedSize ? await readImage(files.content, { longSide: reducedSize }) : full;
        const targets = await blendedStyleTargets(engine, styles, styleHashes, { ...settings, size: workSize });
        await mkdir(renderPaths(input.renderDir).checkpoints, { recursive: true });
        const result = await engine.stylize({
          content,
          targets,
          settings: { ...run, size: workSize },
          resumeFrom,
          init: guide?.warped,
          temporal: guide && { warped: guide.warped, mask: guide.mask, weight: settings.temporalWeight ?? defaultTemporalWeight(settings.size) },
          checkpointEvery: input.checkpointEvery,
          signal: ctx.cancellationSignal,
          onStep: async ({ step, loss }) => {
            const stepMs = Date.now() - lastStepAt;
            lastStepAt = Date.now();
            if (!warnedSlowSteps && stepMs > heartbeatTimeoutMs / 3) {
              warnedSlowSteps = true;
              ctx.log.warn(
                `frame ${frame}: one step took ${(stepMs / 1000).toFixed(1)} s, over a third of the ${heartbeatTimeoutMs / 1000} s heartbeat timeout; ` +
                  'raise --heartbeat-timeout or lower --size, or the frame may be retried as if its worker had died',
              );
            }
            beat = { ...beat, step, loss };
            ctx.heartbeat(beat);
            await faults.onStep(frame, attempt, step, ctx.cancellationSignal, () => ctx.heartbeat(beat));
          },
          onCheckpoint: async (c) => {
            await writeCheckpoint(files.checkpoint, trajectory, c);
            beat = { ...beat, checkpointStep: c.step, checkpoint: files.checkpoint };
            ctx.heartbeat(beat);
          },
        });
        const stylized = reducedSize ? await resizeImage(result.image, full.width, full.height) : result.image;
        // After the optimisation, so checkpoints hold its own image and a resumed frame ends the same.
        const image = settings.originalColors ? transferOriginalColors(stylized, full) : stylized;
        await mkdir(dirname(files.styled), { recursive: true });
        await writePng(files.styled, image);
        const sidecar: FrameSidecar = {
          fingerprint,
          loss: result.loss,
          steps: result.steps,
          backend: engine.backend.name,
          degraded: reducedSize !== undefined,
        };
        await writeFileAtomic(files.sidecar, JSON.stringify(sidecar));
        await rm(files.checkpoint, { force: true });
        // Kept only for a retry of this frame; at 2.4 MB a frame they would outgrow the chunk's PNGs.
        if (guide) await rm(guidePath(input, input.chunk!), { force: true });
        return {
          ...base,
          reused: false,
          seconds: (Date.now() - started) / 1000,
          loss: result.loss,
          steps: result.steps,
          resumedFromStep: result.resumedFromStep,
          degraded: sidecar.degraded,
        };
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
        throw err;
      }
    },
  };
}
