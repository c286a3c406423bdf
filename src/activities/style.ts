import { Context } from '@temporalio/activity';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic';
import type { StyleEngine } from '../engine/engine';
import { totalSteps } from '../engine/stylize';
import { framePath, readImage, writePng } from '../media';
import type { FrameRecord, StylizeFrameInput } from '../workflows/contract';
import { readCheckpoint, writeCheckpoint } from './checkpoint';
import { fileSha256, sha256 } from '../common/hash';
import { frameFingerprint, trajectoryFingerprint } from './fingerprint';
import { renderPaths } from './paths';

export interface StyleActivityDeps {
  engine: StyleEngine;
  /** Identifies the weights in fingerprints (their md5 or file identity). */
  weightsId: string;
}

/** Heartbeat details: enough for a person (or a retried attempt) to see where the frame stands. */
export interface FrameHeartbeat {
  frame: number;
  step: number;
  totalSteps: number;
  loss: number;
  checkpointStep: number;
  checkpoint?: string;
}

interface FrameSidecar {
  fingerprint: string;
  loss: number;
  steps: number;
  backend: string;
}

export function createStyleActivities({ engine, weightsId }: StyleActivityDeps) {
  return {
    async stylizeFrame(input: StylizeFrameInput): Promise<FrameRecord> {
      const ctx = Context.current();
      const started = Date.now();
      const { settings, frame } = input;
      const paths = renderPaths(input.renderDir);
      const styleHash = await fileSha256(input.style);
      const fingerprint = frameFingerprint(styleHash, weightsId, settings);
      const outPng = framePath(paths.styled, frame);
      const sidecarPath = outPng.replace(/\.png$/, '.json');
      const base = { frame, backend: engine.backend.name, attempt: ctx.info.attempt };

      const existing = await readSidecar(sidecarPath);
      if (existing?.fingerprint === fingerprint && existsSync(outPng)) {
        return { ...base, reused: true, seconds: 0, loss: existing.loss, steps: existing.steps, resumedFromStep: 0 };
      }

      const trajectory = trajectoryFingerprint(styleHash, weightsId, settings);
      const checkpointPath = join(paths.checkpoints, `frame_${String(frame).padStart(6, '0')}.ckpt`);
      const steps = totalSteps(settings);
      let resumeFrom = await readCheckpoint(checkpointPath, trajectory);
      if (resumeFrom && resumeFrom.step >= steps) resumeFrom = undefined;

      const targets = await engine.styleTargets(
        sha256(`${styleHash}:${settings.size}:${settings.styleLayers.join(',')}`),
        settings.styleLayers,
        () => readImage(input.style, { longSide: settings.size }),
      );
      const content = await readImage(framePath(paths.frames, frame), {
        hint: 'The extracted frame is damaged; delete the render\'s frames/ directory and start the render again.',
      });
      await mkdir(paths.checkpoints, { recursive: true });

      let beat: FrameHeartbeat = {
        frame,
        step: resumeFrom?.step ?? 0,
        totalSteps: steps,
        loss: NaN,
        checkpointStep: resumeFrom?.step ?? 0,
        checkpoint: resumeFrom ? checkpointPath : undefined,
      };
      ctx.heartbeat(beat);
      const result = await engine.stylize({
        content,
        targets,
        settings,
        resumeFrom,
        signal: ctx.cancellationSignal,
        onStep: ({ step, loss }) => {
          beat = { ...beat, step, loss };
          ctx.heartbeat(beat);
        },
        onCheckpoint: async (c) => {
          await writeCheckpoint(checkpointPath, trajectory, c);
          beat = { ...beat, checkpointStep: c.step, checkpoint: checkpointPath };
          ctx.heartbeat(beat);
        },
      });

      await mkdir(paths.styled, { recursive: true });
      await writePng(outPng, result.image);
      const sidecar: FrameSidecar = { fingerprint, loss: result.loss, steps: result.steps, backend: engine.backend.name };
      await writeFileAtomic(sidecarPath, JSON.stringify(sidecar));
      await rm(checkpointPath, { force: true });
      return {
        ...base,
        reused: false,
        seconds: (Date.now() - started) / 1000,
        loss: result.loss,
        steps: result.steps,
        resumedFromStep: result.resumedFromStep,
      };
    },
  };
}

async function readSidecar(path: string): Promise<FrameSidecar | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as FrameSidecar;
  } catch {
    return undefined;
  }
}
