import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { renderPaths } from '../../common/render-paths';
import type { Io } from '../../cli-common/io';
import { diskUsage, formatBytes } from '../report/disk-usage';
import { defaultWorkDir } from '../setup/render-options';

export interface CleanOptions {
  workDir: string;
  /** List what would be deleted without deleting it. */
  dryRun?: boolean;
}

/**
 * Deletes the work directories (frames, stylized frames, checkpoints) of finished renders: those
 * whose output video was written. Unfinished renders are never touched, so no work is lost.
 */
export async function cleanFinished(opts: CleanOptions, io: Io): Promise<string[]> {
  const rendersDir = join(opts.workDir, 'renders');
  const names = existsSync(rendersDir) ? await readdir(rendersDir) : [];
  const finished = names.filter((name) => existsSync(renderPaths(join(rendersDir, name)).finished)).sort();
  let total = 0;
  for (const name of finished) {
    const bytes = await diskUsage(join(rendersDir, name));
    total += bytes;
    if (!opts.dryRun) await rm(join(rendersDir, name), { recursive: true, force: true });
    io.out(`${opts.dryRun ? 'would delete' : 'deleted'} ${join(rendersDir, name)} (${formatBytes(bytes)})`);
  }
  const kept = names.length - finished.length;
  io.out(`${finished.length} finished render(s) ${opts.dryRun ? 'to delete' : 'deleted'}, ${formatBytes(total)} ${opts.dryRun ? 'to free' : 'freed'}; ${kept} unfinished kept`);
  return finished;
}

export function register(program: Command, io: Io): Command {
  return program
    .command('clean')
    .description("delete the work files (frames, stylized frames, checkpoints) of finished renders; unfinished ones are kept")
    .addOption(new Option('--work-dir <dir>', 'work directory to clean').env('STARRY_WORK_DIR'))
    .option('--dry-run', 'only list what would be deleted')
    .action(async (opts: { workDir?: string; dryRun?: boolean }) => {
      await cleanFinished({ workDir: opts.workDir ? resolve(opts.workDir) : defaultWorkDir(), dryRun: opts.dryRun }, io);
    });
}
