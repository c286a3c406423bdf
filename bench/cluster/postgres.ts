/**
 * A throwaway PostgreSQL cluster from Debian's packages: initdb into a temporary directory, started
 * with pg_ctl on a free loopback port, stopped and deleted afterwards. Nothing system-wide is
 * touched (no service, no /var/lib/postgresql cluster, no socket in /var/run).
 */
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, run } from './sys';

export interface Postgres {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Major version of the server binaries, e.g. "15". */
  version: string;
  dataDir: string;
  /** An immediate shutdown (as a crash: no checkpoint, clients cut off) and a start with the same options; resolves with the seconds it took. */
  restart(): Promise<number>;
  stop(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<major>/bin that has initdb, or a message saying how to get one. */
async function findBinDir(): Promise<{ binDir: string; version: string }> {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? (await readdir(root)).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  if (!majors.length) {
    throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql: install them with `apt-get install postgresql` (Debian) and run again');
  }
  return { binDir: join(root, majors[0]!, 'bin'), version: majors[0]! };
}

/**
 * PostgreSQL refuses to run as root. As root we run its binaries as the `postgres` account the
 * Debian package creates, in a directory that account owns; otherwise as ourselves.
 */
async function asServerUser(): Promise<{ wrap: (cmd: string, args: string[]) => [string, string[]]; uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return { wrap: (cmd, args) => [cmd, args] };
  const id = await run('id', ['-u', 'postgres']).catch(() => {
    throw new Error('running as root needs the `postgres` account to run PostgreSQL (the postgresql package creates it): apt-get install postgresql');
  });
  const gid = await run('id', ['-g', 'postgres']);
  return {
    wrap: (cmd, args) => ['runuser', ['-u', 'postgres', '--', cmd, ...args]],
    uid: Number(id.stdout.trim()),
    gid: Number(gid.stdout.trim()),
  };
}

export async function startPostgres(opts: { user?: string; password?: string; log?: (line: string) => void } = {}): Promise<Postgres> {
  const user = opts.user ?? 'temporal';
  const password = opts.password ?? 'temporal';
  const { binDir, version } = await findBinDir();
  const who = await asServerUser();
  // Its own temporary directory (not under the caller's 0700 one), owned by whoever runs the server.
  const root = await mkdtemp(join(tmpdir(), 'starry-pg-'));
  const dataDir = join(root, 'data');
  const pwFile = join(root, 'pw');
  await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  if (who.uid !== undefined) {
    await chown(root, who.uid, who.gid!);
    await chown(pwFile, who.uid, who.gid!);
  }
  const exec = (tool: string, args: string[]) => {
    const [cmd, full] = who.wrap(join(binDir, tool), args);
    return run(cmd, full, { timeoutMs: 120_000 });
  };
  const cleanup = () => rm(root, { recursive: true, force: true });
  try {
    // Password login over TCP (scram), as the compose file's POSTGRES_PASSWORD sets up.
    await exec('initdb', ['-D', dataDir, '-U', user, `--pwfile=${pwFile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync']);
  } catch (err) {
    await cleanup();
    throw err;
  }
  const [port] = await freePorts(1);
  // Loopback only, the socket in our directory; fsync off: a throwaway cluster need not survive a power cut.
  const serverOpts = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  try {
    await exec('pg_ctl', ['-D', dataDir, '-l', join(root, 'server.log'), '-o', serverOpts, '-w', '-t', '60', 'start']);
  } catch (err) {
    await cleanup();
    throw err;
  }
  opts.log?.(`postgresql ${version} on 127.0.0.1:${port} (data in ${dataDir})`);
  let stopping: Promise<void> | undefined;
  return {
    host: '127.0.0.1',
    port: port!,
    user,
    password,
    version,
    dataDir,
    async restart() {
      const t0 = performance.now();
      // pg_ctl restart starts it again with the options of the last start (postmaster.opts).
      await exec('pg_ctl', ['-D', dataDir, '-l', join(root, 'server.log'), '-m', 'immediate', '-w', '-t', '60', 'restart']);
      return (performance.now() - t0) / 1000;
    },
    stop() {
      // Every caller waits for the one shutdown, however many ask.
      return (stopping ??= (async () => {
        // Fast shutdown: disconnects clients (the Temporal server may still hold connections).
        await exec('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', 'stop']).catch(async () => {
          await exec('pg_ctl', ['-D', dataDir, '-m', 'immediate', 'stop']).catch(() => undefined);
        });
        await cleanup();
      })());
    },
  };
}
