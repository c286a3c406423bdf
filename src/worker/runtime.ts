import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogEntry, type LogLevel } from '@temporalio/worker';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatWithOptions, type InspectOptions } from 'node:util';

let installed = false;

/** Expected by design: the style queue's worker runs activities only. */
const EXPECTED = [/No workflows registered, not polling for workflow tasks/];

const SEVERITIES: readonly string[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

/** Where SDK log entries go instead of the screen (see logToFile); inherited by worker processes we spawn. */
let logFile: string | undefined = process.env.STARRY_LOG_FILE || undefined;
/** Shows a one-line warning our own activities log (e.g. a step too slow for the heartbeat) while logging to a file. */
let screen: (line: string) => void = (line) => void process.stderr.write(`${line}\n`);

/**
 * From now on, SDK log entries (failed attempts with their stacks, connection retries while a dev
 * server stops) are appended to `path` instead of the screen, and so are those of the worker
 * processes this one spawns (STARRY_LOG_FILE). Warnings our activities log themselves still reach
 * `onScreen`, as one line.
 */
export function logToFile(path: string, onScreen?: (line: string) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  logFile = path;
  process.env.STARRY_LOG_FILE = path;
  if (onScreen) screen = onScreen;
}

/** An entry as the SDK's DefaultLogger writes it: time, level, message, then its meta (an error's stack spans lines). */
function lineOf(entry: LogEntry, inspect: InspectOptions): string {
  const at = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta = entry.meta === undefined ? '' : ` ${formatWithOptions(inspect, entry.meta)}`;
  return `${at} [${entry.level}] ${entry.message}${meta}`;
}

function writeToFile(path: string, line: string): void {
  try {
    appendFileSync(path, `${line}\n`);
  } catch {
    // A log that cannot be written must not stop a render.
  }
}

/**
 * Installs the SDK runtime with a quieter logger (worker state changes at INFO would bury the
 * progress line). Must run before the first connection or worker; later calls do nothing.
 * `readable` turns a logged text into what a person reads: activities name settings by key
 * (`{size}`), and the command line, which owns the flags, names them by flag.
 */
export function installRuntime(
  level: LogLevel = (process.env.STARRY_LOG_LEVEL as LogLevel | undefined) ?? 'WARN',
  opts: { forwardCoreLogs?: boolean; readable?: (text: string) => string } = {},
): void {
  if (installed) return;
  installed = true;
  const readable = opts.readable ?? ((text: string) => text);
  const severity = SEVERITIES.indexOf(level);
  const logger = new DefaultLogger(level, (entry: LogEntry) => {
    if (EXPECTED.some((p) => p.test(entry.message))) return;
    if (!logFile) return void process.stderr.write(`${readable(lineOf(entry, {}))}\n`);
    if (SEVERITIES.indexOf(entry.level) < severity) return;
    writeToFile(logFile, readable(lineOf(entry, { colors: false, depth: 6, breakLength: Infinity })));
    if (entry.meta?.sdkComponent === 'activity' && SEVERITIES.indexOf(entry.level) >= SEVERITIES.indexOf('WARN')) {
      screen(`warning: ${readable(entry.message.split('\n')[0])} (details in ${logFile})`);
    }
  });
  // With forwardCoreLogs, core's own warnings (e.g. retrying calls to a dev server that is stopping)
  // reach this logger too, instead of core printing them to stderr, so logToFile catches them. Only
  // for processes that end with process.exit (the command line): the forwarding keeps Node alive.
  const logging = opts.forwardCoreLogs ? { forward: {}, filter: makeTelemetryFilterString({ core: level, other: 'ERROR' }) } : undefined;
  Runtime.install({ logger, ...(logging ? { telemetryOptions: { logging } } : {}) });
}
