import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';

let installed = false;

/** Expected by design: the style queue's worker runs activities only. */
const EXPECTED = [/No workflows registered, not polling for workflow tasks/];

/**
 * Installs the SDK runtime with a quieter logger (worker state changes at INFO would bury the
 * progress line). Must run before the first connection or worker; later calls do nothing.
 */
export function installRuntime(level: LogLevel = (process.env.STARRY_LOG_LEVEL as LogLevel | undefined) ?? 'WARN'): void {
  if (installed) return;
  installed = true;
  const print = new DefaultLogger(level);
  const logger = new DefaultLogger(level, (entry: LogEntry) => {
    if (!EXPECTED.some((p) => p.test(entry.message))) print.log(entry.level, entry.message, entry.meta);
  });
  Runtime.install({ logger });
}
