import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

/**
 * Installs the SDK runtime with a quieter logger (worker state changes at INFO would bury the
 * progress line). Must run before the first connection or worker; later calls do nothing.
 */
export function installRuntime(level: LogLevel = (process.env.STARRY_LOG_LEVEL as LogLevel | undefined) ?? 'WARN'): void {
  if (installed) return;
  installed = true;
  Runtime.install({ logger: new DefaultLogger(level) });
}
