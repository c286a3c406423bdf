import type { Client, WorkflowHandle } from '@temporalio/client';
import { embeddedPidOnThisHost } from '../../cli-common/identity';
import { processAlive } from '../../common/process';

function deadEmbeddedWorker(identity: string | null | undefined): boolean {
  const pid = embeddedPidOnThisHost(identity);
  return pid !== undefined && pid !== process.pid && !processAlive(pid);
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
