import type { Client, WorkflowHandle } from '@temporalio/client';
import { hostname } from 'node:os';
import { processAlive } from '../common/process';

/** Worker identity of an embedded start-render: lets a later one on this host tell it is dead. */
export function embeddedIdentity(pid = process.pid): string {
  return `starry-embedded:${pid}@${hostname()}`;
}

function deadEmbeddedWorker(identity: string | null | undefined): boolean {
  const m = identity?.match(/^starry-embedded:(\d+)@(.+)$/);
  if (!m) return false;
  const pid = Number(m[1]);
  return m[2] === hostname() && pid !== process.pid && !processAlive(pid);
}

/**
 * Frames that a killed start-render was computing stay "started" on the server until their heartbeat
 * times out. When we can see their worker process is gone, fail those attempts right away, so the
 * retry (which resumes from the frame's checkpoint) starts in seconds rather than after the timeout.
 * Returns the activity ids it failed.
 */
export async function failAttemptsOfDeadWorkers(client: Client, handle: WorkflowHandle): Promise<string[]> {
  const description = await handle.describe();
  const failed: string[] = [];
  for (const activity of description.raw.pendingActivities ?? []) {
    if (!activity.activityId || !deadEmbeddedWorker(activity.lastWorkerIdentity)) continue;
    try {
      await client.activity.fail(
        { workflowId: handle.workflowId, runId: description.runId, activityId: activity.activityId },
        new Error(`worker ${activity.lastWorkerIdentity} is gone (its start-render was killed)`),
      );
      failed.push(activity.activityId);
    } catch {
      // It completed or timed out meanwhile: nothing to hand over.
    }
  }
  return failed;
}
