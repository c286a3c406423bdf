import type { RenderProgress, RenderRequest } from './contract';
import { emptySummary, type FrameLedger } from './ledger';
import type { Steering } from './steering';

/** What the progress query answers: the render, what it was told, and its frames so far (none before the split). */
export function renderProgress(request: RenderRequest, steering: Steering, ledger: FrameLedger | undefined): RenderProgress {
  return {
    renderId: request.renderId,
    renderDir: request.renderDir,
    ...steering.view(),
    engine: steering.settings.engine ?? 'vgg19',
    stylized: steering.settings.engine !== 'copy',
    ...(ledger?.summary() ?? emptySummary()),
  };
}
