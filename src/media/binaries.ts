import Ffmpeg = require('fluent-ffmpeg');

export interface FfmpegPaths {
  ffmpeg: string;
  ffprobe: string;
}

export type FfmpegCommand = Ffmpeg.FfmpegCommand;

/** Creates a fluent-ffmpeg command bound to our binaries, optionally with a first input. */
export type FfmpegFactory = (input?: string) => FfmpegCommand;

/**
 * Where ffmpeg and ffprobe live. FFMPEG_PATH / FFPROBE_PATH win so a deployment can use a
 * system build; otherwise the static builds shipped with the installer packages are used.
 * The installer packages are loaded lazily because they throw on unsupported platforms, and
 * then the env variables are the way out.
 */
export function ffmpegPaths(env: NodeJS.ProcessEnv = process.env): FfmpegPaths {
  const ffmpeg = env.FFMPEG_PATH || (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  const ffprobe = env.FFPROBE_PATH || (require('@ffprobe-installer/ffprobe') as { path: string }).path;
  return { ffmpeg, ffprobe };
}

/**
 * A factory for fluent-ffmpeg commands that use the resolved binaries. Paths are set on each
 * command rather than with fluent-ffmpeg's global setters so that nothing else in the process
 * (or another test) can change which binary we run.
 */
export function ffmpegFactory(env: NodeJS.ProcessEnv = process.env): FfmpegFactory {
  const paths = ffmpegPaths(env);
  return (input?: string) => {
    const command = input === undefined ? Ffmpeg() : Ffmpeg(input);
    command.setFfmpegPath(paths.ffmpeg);
    command.setFfprobePath(paths.ffprobe);
    return command;
  };
}

/**
 * fluent-ffmpeg splits a lone option string that contains exactly one space ("-crf 18" style),
 * which would corrupt a filter string or path; with two or more arguments it never splits.
 */
function checkSplitSafe(options: string[]): void {
  if (options.length === 1 && options[0].includes(' ')) {
    throw new Error(`A lone ffmpeg option with a space would be split by fluent-ffmpeg: "${options[0]}"`);
  }
}

export function addInputOptions(command: FfmpegCommand, options: string[]): FfmpegCommand {
  checkSplitSafe(options);
  return options.length === 0 ? command : command.inputOptions(...options);
}

export function addOutputOptions(command: FfmpegCommand, options: string[]): FfmpegCommand {
  checkSplitSafe(options);
  return options.length === 0 ? command : command.outputOptions(...options);
}

/** ffmpeg's stderr holds only its complaints because runFfmpeg sets -loglevel error; keep the last few. */
function stderrTail(stderr: string | undefined, lines = 8): string {
  if (!stderr) return '';
  return stderr.trim().split(/\r?\n/).slice(-lines).join('\n');
}

/**
 * Runs a prepared command to completion; rejects with ffmpeg's own explanation on failure.
 * `what` completes "ffmpeg failed while ..." for the error message. Aborting `signal` kills
 * ffmpeg (a cancelled activity must not leave it running) and rejects with the signal's reason.
 */
export function runFfmpeg(command: FfmpegCommand, what: string, signal?: AbortSignal): Promise<void> {
  // Global options are position independent, so they may ride along with the last input's options.
  addInputOptions(command, ['-hide_banner', '-nostdin', '-loglevel', 'error']);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => command.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    command
      // fluent-ffmpeg spawns only after its capability checks; an abort in that gap has no process to kill yet.
      .on('start', () => {
        if (signal?.aborted) onAbort();
      })
      .on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) reject(signal.reason);
        else resolve();
      })
      .on('error', (err: Error, _stdout?: string | null, stderr?: string | null) => {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const tail = stderrTail(stderr ?? undefined);
        const headline = err.message.split('\n')[0].replace(/:\s*$/, '');
        reject(new Error(`ffmpeg failed while ${what} (${headline})${tail ? `:\n${tail}` : ''}`));
      })
      .run();
  });
}
