import type { RenderProgress } from '../../workflows/contract';
import { formatRanges } from '../../workflows/frame-set';
import { commandHint, type HintTarget } from './hints';
import { fixFor, typeOfFrameError } from './failure';
import { withFlags } from '../setup/render-option-values';

/** Reasons shown for a render in needs-attention; the rest are counted (status --json lists all). */
const MAX_REASONS = 5;
/** Frame numbers listed in one line before the rest are counted. */
const MAX_FRAMES_LISTED = 20;

/** The state `status --json` reports for a running render; it agrees with the phase (and with `list`). */
export function liveState(p: Pick<RenderProgress, 'phase' | 'paused'>): 'needs-attention' | 'paused' | 'running' {
  if (p.phase === 'needs-attention') return 'needs-attention';
  return p.paused ? 'paused' : 'running';
}

/**
 * The first line of an error, without the "frame N of M, attempt A:" prefix the frame list already
 * gives, and with the settings it names by key named by their flags.
 */
export function oneLineReason(error: string, maxLength = 240): string {
  const first = withFlags((error.split('\n').find((l) => l.trim() !== '') ?? error).trim());
  const reason = first.replace(/\bframe \d+(?: of \d+)?, attempt \d+: /, '');
  return reason.length > maxLength ? `${reason.slice(0, maxLength - 1)}…` : reason;
}

function listSample(sample: readonly number[], count: number): string {
  const shown = sample.slice(0, MAX_FRAMES_LISTED).join(', ');
  return count > sample.length || sample.length > MAX_FRAMES_LISTED ? `${shown}, … (${count} in all)` : shown;
}

/**
 * What a person reads when a render waits in needs-attention: which frames failed, why (one line
 * per distinct reason, no stack), and the two commands that let it go on. Reads the bounded view
 * the workflow keeps (runs of frames, errors grouped).
 */
export function describeNeedsAttention(id: string, p: RenderProgress, where: HintTarget = {}): string[] {
  const failed = p.failedFrames;
  const lines = [
    `render ${id} needs attention: ${failed.count === 1 ? 'frame' : `${failed.count} frames`} ${formatRanges(failed)} failed on every attempt; ` +
      `${p.done} of ${p.total} frames are done`,
  ];
  for (const group of failed.errors.slice(0, MAX_REASONS)) {
    lines.push(`  ${group.count === 1 ? 'frame' : 'frames'} ${listSample(group.sample, group.count)}: ${oneLineReason(group.error)}`);
    const type = typeOfFrameError(group.error);
    const fix = type && fixFor(type, id, where);
    if (fix) lines.push(`    fix: ${fix}`);
  }
  if (failed.errors.length > MAX_REASONS) {
    lines.push(`  … ${failed.errors.length - MAX_REASONS} more reasons (${commandHint('status', id, where)} --json lists them)`);
  }
  lines.push(`  render them again:       ${commandHint('retry-failed', id, where)}`);
  lines.push(`  or keep them unstylized: ${commandHint('skip-failed', id, where)}`);
  return lines;
}
