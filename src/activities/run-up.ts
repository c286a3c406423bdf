import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic';
import { sha256 } from '../common/hash';
import { renderPaths } from '../common/render-paths';
import { readImage, writePng } from '../media';
import type { ChainTarget } from '../engine/settings';
import { chainTargetFields, chainTargetFrom, type ChainTargetFields } from './chain-target';
import type { RgbImage } from '../media/types';

/**
 * What a resumed run-up continues with besides the image (the stop rule's): the chain's target, the
 * steps taken so far, and the style + content + tv of its result as stored (the next frame's `settled`).
 */
export interface RunUpState {
  chain?: ChainTarget;
  steps?: number;
  settled?: number;
}

/**
 * The results of one chain start's run-up frames, kept in its chunk's run-up/ directory until the
 * chain's first frame is done, so an attempt that dies in the run-up resumes after the last frame
 * it finished. A result counts only with its sidecar's fingerprint, written after the PNG.
 */
export class RunUpResults {
  private readonly dir: string;

  constructor(
    renderDir: string,
    chunk: number,
    start: number,
    /** The chain's first frame's fingerprint (frame-plan.ts withRunUp): settings, steps and run-up. */
    private readonly fingerprint: string,
  ) {
    this.dir = join(renderPaths(renderDir).chunk(chunk).runUp, `start_${String(start).padStart(6, '0')}`);
  }

  private files(frame: number) {
    const png = join(this.dir, `frame_${String(frame).padStart(6, '0')}.png`);
    return { png, sidecar: png.replace(/\.png$/, '.json') };
  }

  private fingerprintOf(frame: number): string {
    return sha256(`${this.fingerprint}:${frame}`);
  }

  /** Of `frames` (farthest first), the last whose result an earlier attempt kept, and that result. */
  async lastDone(frames: readonly number[]): Promise<({ frame: number; styled: RgbImage } & RunUpState) | undefined> {
    for (const frame of [...frames].reverse()) {
      const done = await this.read(frame);
      if (done) return { frame, ...done };
    }
    return undefined;
  }

  /** The result of run-up frame `frame`, read back as the next frame will use it; undefined if not done. */
  private async read(frame: number): Promise<({ styled: RgbImage } & RunUpState) | undefined> {
    const files = this.files(frame);
    const sidecar = await readFile(files.sidecar, 'utf8').then((text) => JSON.parse(text) as { fingerprint?: string; steps?: number; storedLoss?: number } & ChainTargetFields, () => undefined);
    if (sidecar?.fingerprint !== this.fingerprintOf(frame)) return undefined;
    const styled = await readImage(files.png).catch(() => undefined);
    return styled && { styled, chain: chainTargetFrom(sidecar), steps: sidecar.steps, settled: sidecar.storedLoss };
  }

  /**
   * Keeps a finished run-up frame and returns it as read back: the next frame starts from the PNG's
   * 8-bit values whether or not the attempt dies in between, so a resumed run-up ends the same.
   * `score`, when given, measures the image as read back (the next frame's `settled`), kept with it.
   */
  async write(frame: number, image: RgbImage, state: Omit<RunUpState, 'settled'> = {}, score?: (stored: RgbImage) => number): Promise<{ styled: RgbImage; settled?: number }> {
    const files = this.files(frame);
    await mkdir(this.dir, { recursive: true });
    await writePng(files.png, image);
    const styled = await readImage(files.png);
    const settled = score?.(styled);
    await writeFileAtomic(files.sidecar, JSON.stringify({ fingerprint: this.fingerprintOf(frame), ...chainTargetFields(state.chain), steps: state.steps, storedLoss: settled }));
    return { styled, settled };
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
