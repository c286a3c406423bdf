import { resolve } from 'node:path';
import { DEFAULT_NAMESPACE } from '../../cli-common/connection';
import { defaultWorkDir } from '../setup/render-options';

/** Where a render's server is found from another shell: the flags a follow-up command needs. */
export interface HintTarget {
  /** Work directory of the embedded server (when no address is given). */
  workDir?: string;
  address?: string;
  namespace?: string;
}

/** An argument as a POSIX shell reads it back: bare when safe, else single-quoted. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * `npm run <script> -- <id>` plus the flags that find the same server: `--work-dir` when it is not
 * the default (nor STARRY_WORK_DIR), `--address`/`--namespace` when not from the environment.
 */
export function commandHint(script: string, id: string, where: HintTarget = {}, env: NodeJS.ProcessEnv = process.env): string {
  const args = [id];
  if (where.address) {
    if (where.address !== env.TEMPORAL_ADDRESS) args.push('--address', where.address);
    const namespace = where.namespace ?? DEFAULT_NAMESPACE;
    if (namespace !== (env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE)) args.push('--namespace', namespace);
  } else if (where.workDir && resolve(where.workDir) !== defaultWorkDir(env)) {
    args.push('--work-dir', resolve(where.workDir));
  }
  return `npm run ${script} -- ${args.map(shellQuote).join(' ')}`;
}
