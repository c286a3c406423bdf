/**
 * The command line: each command is defined and run in its own file under commands/; this file
 * only puts them together, in the order `--help` lists them, and turns an error into an exit code.
 */
import { Command } from 'commander';
import { installRuntime } from '../worker/runtime';
import { consoleIo, type Io } from '../cli-common/io';
import { exitCodeFor } from './exit-codes';
import { withFlags } from './setup/render-option-values';
import * as startRender from './commands/start-render';
import * as preview from './commands/preview';
import * as worker from './commands/worker';
import * as status from './commands/status';
import * as setEpochs from './commands/set-epochs';
import * as pause from './commands/pause';
import * as resume from './commands/resume';
import * as cancel from './commands/cancel';
import * as retryFailed from './commands/retry-failed';
import * as skipFailed from './commands/skip-failed';
import * as list from './commands/list';
import * as ui from './commands/ui';
import * as clean from './commands/clean';
import * as doctor from './commands/doctor';

const COMMANDS = [startRender, preview, worker, status, setEpochs, pause, resume, cancel, retryFailed, skipFailed, list, ui, clean, doctor];

/**
 * Every line the command line prints names settings by their flags: messages from the layers below
 * name them by key (`Give {input} a video`), whichever command passes them on.
 */
function readableIo(io: Io): Io {
  return { out: (line) => io.out(withFlags(line)), status: (line) => io.status(withFlags(line)), err: (line) => io.err(withFlags(line)) };
}

const io: Io = readableIo(consoleIo());

/** The whole command line; exported so tests can read each command's --help without a process. */
export const program = new Command('starry')
  .description('Paint every frame of a video in the style of a painting, durably, with Temporal.')
  .showHelpAfterError();

for (const command of COMMANDS) command.register(program, io);

if (require.main === module) {
  // The command line always ends with process.exit, so core's log can be forwarded (see runtime.ts).
  installRuntime(undefined, { forwardCoreLogs: true, readable: withFlags });
  void program.parseAsync(process.argv).then(
    () => process.exit(process.exitCode ?? 0),
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      io.err(`error: ${message}`);
      process.exit(exitCodeFor(err));
    },
  );
}
