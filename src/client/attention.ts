import type { FailedFrame, RenderProgress } from '../workflows/contract';
import { commandHint, type HintTarget } from './hints';

/** Reasons shown for a render in needs-attention; the rest are counted (status --json lists all). */
const MAX_REASONS = 5;
/** Frame numbers listed in one line before the rest are counted. */
const MAX_FRAMES_LISTED = 20;

/** The state `status --json` reports for a running render; it agrees with the phase (and with `list`). */
export function liveState(p: Pick<RenderProgress, 'phase' | 'paused'>): 'needs-attention' | 'paused' | 'running' {
  if (p.phase === 'needs-attention') return 'needs-attention';
  return p.paused ? 'paused' : 'running';
}

/** The first line of an error, without the "frame N of M, attempt A:" prefix the frame list already gives. */
export function oneLineReason(error: string, maxLength = 240): string {
  const first = (error.split('\n').find((l) => l.trim() !== '') ?? error).trim();
  const reason = first.replace(/\bframe \d+(?: of \d+)?, attempt \d+: /, '');
  return reason.length > maxLength ? `${reason.slice(0, maxLength - 1)}…` : reason;
}

function listFrames(frames: readonly number[]): string {
  const shown = frames.slice(0, MAX_FRAMES_LISTED).join(', ');
  return frames.length > MAX_FRAMES_LISTED ? `${shown}, … (${frames.length} in all)` : shown;
}

/**
 * What a person reads when a render waits in needs-attention: which frames failed, why (one line
 * per distinct reason, no stack), and the two commands that let it go on.
 */
export function describeNeedsAttention(id: string, p: RenderProgress, where: HintTarget = {}): string[] {
  const failed = [...p.failed].sort((a, b) => a.frame - b.frame);
  const byReason = new Map<string, number[]>();
  for (const f of failed as FailedFrame[]) {
    const reason = oneLineReason(f.error);
    byReason.set(reason, [...(byReason.get(reason) ?? []), f.frame]);
  }
  const frames = failed.map((f) => f.frame);
  const lines = [
    `render ${id} needs attention: ${frames.length === 1 ? 'frame' : `${frames.length} frames`} ${listFrames(frames)} failed on every attempt; ` +
      `${p.done} of ${p.total} frames are done`,
  ];
  const reasons = [...byReason.entries()];
  for (const [reason, those] of reasons.slice(0, MAX_REASONS)) {
    lines.push(`  ${those.length === 1 ? 'frame' : 'frames'} ${listFrames(those)}: ${reason}`);
  }
  if (reasons.length > MAX_REASONS) lines.push(`  … ${reasons.length - MAX_REASONS} more reasons (${commandHint('status', id, where)} --json lists every frame)`);
  lines.push(`  render them again:       ${commandHint('retry-failed', id, where)}`);
  lines.push(`  or keep them unstylized: ${commandHint('skip-failed', id, where)}`);
  return lines;
}
