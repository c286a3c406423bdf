/** The activities the render workflow calls, with their queues, timeouts and retry policies. Types only from the activities. */
import { proxyActivities } from '@temporalio/workflow';
import type { createMediaActivities } from '../activities/chunks';
import type { createStyleActivities } from '../activities/style';
import { FAILURE_TYPES, TASK_QUEUES, type RenderLimits } from './contract';

type MediaActivities = ReturnType<typeof createMediaActivities>;
type StyleActivities = ReturnType<typeof createStyleActivities>;

export const media = proxyActivities<MediaActivities>({
  taskQueue: TASK_QUEUES.media,
  startToCloseTimeout: '12h',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [FAILURE_TYPES.mediaInput] },
});

/** The style activity raises these as non-retryable failures; listed so the policy says so too. */
const NON_RETRYABLE_FRAME_ERRORS = [FAILURE_TYPES.mediaInput, FAILURE_TYPES.invalidSettings];

export function styleActivities(limits: RenderLimits, taskQueue: string) {
  return proxyActivities<StyleActivities>({
    taskQueue,
    // Whole frames at 512 px take minutes on a CPU; the heartbeat timeout is what notices a dead worker.
    startToCloseTimeout: '24h',
    heartbeatTimeout: `${limits.heartbeatTimeoutSeconds}s`,
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '2m',
      maximumAttempts: limits.frameAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE_FRAME_ERRORS,
    },
  });
}

