import { defaultPayloadConverter, type WorkflowHandle } from '@temporalio/client';
import { progressQuery, type FrameHeartbeat, type RenderProgress } from '../../workflows/contract';

export interface Snapshot {
  progress: RenderProgress;
  /** Frames being computed right now, from their activities' latest heartbeats. */
  live: FrameHeartbeat[];
}

/** Progress from the workflow's query plus per-step detail from pending activities' heartbeats. */
export async function readSnapshot(handle: WorkflowHandle): Promise<Snapshot> {
  const [progress, description] = await Promise.all([handle.query(progressQuery), handle.describe()]);
  const live: FrameHeartbeat[] = [];
  for (const activity of description.raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    const beat = defaultPayloadConverter.fromPayload<FrameHeartbeat>(payload);
    if (beat && typeof beat.frame === 'number') live.push(beat);
  }
  live.sort((a, b) => a.frame - b.frame);
  return { progress, live };
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** One status line; the ETA is the workflow's own (see RenderProgress.etaSeconds). */
export function formatProgressLine(snap: Snapshot, width = 24): string {
  const p = snap.progress;
  const secondsLeft = p.etaSeconds;
  const fraction = p.total > 0 ? p.done / p.total : 0;
  const filled = Math.round(fraction * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const parts = [`${bar} ${p.done}/${p.total || '?'} frames`];
  if (p.phase !== 'styling') parts.push(p.phase);
  if (p.stylized === false) parts.push('NOT STYLIZED (--engine copy)');
  if (p.cancelling) parts.push('cancelling: letting frames in flight finish');
  else if (p.paused) parts.push('paused (npm run resume)');
  for (const f of snap.live) parts.push(`frame ${f.frame} step ${f.step}/${f.totalSteps}`);
  if (p.chunks && p.chunks.total > 1) parts.push(`chunk ${Math.min(p.chunks.encoded + 1, p.chunks.total)}/${p.chunks.total} (${p.chunks.encoded} encoded)`);
  const failed = p.failedFrames.count;
  if (failed) parts.push(`${failed} failed`);
  if (p.meanSecondsPerFrame !== null) parts.push(`${p.meanSecondsPerFrame.toFixed(1)} s/frame`);
  if (secondsLeft !== null && p.phase === 'styling') parts.push(`ETA ${formatDuration(secondsLeft)}`);
  if (p.backends.length) parts.push(p.backends.join('+'));
  return parts.join(' · ');
}
