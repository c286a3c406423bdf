/**
 * The Temporal server and temporal-sql-tool, built from the Go module go.temporal.io/server at the
 * release docker-compose.yml runs, and cached per version under the starry-render cache
 * (~/.cache/starry-render/temporal-server/<version>/) so only the first run pays for the build.
 * The schema files the sql tool applies come from the same module and are cached beside them: the
 * admin-tools image carries exactly these (/etc/temporal/schema), which is why server and tool must
 * come from one release.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { removeStaleTemps, tempPathFor } from '../../src/common/atomic';
import { defaultCacheDir } from '../../src/common/cache-dir';
import { run } from './sys';

export const TEMPORAL_MODULE = 'go.temporal.io/server';

export interface TemporalBinaries {
  version: string;
  server: string;
  sqlTool: string;
  /** schema/postgresql/v12 of the module: temporal/versioned and visibility/versioned. */
  postgresSchema: string;
  /** True when this call built them; false when they came from the cache. */
  built: boolean;
  /** Seconds spent here: the whole build, or finding the cached copy. */
  seconds: number;
}

/**
 * The server release docker-compose.yml pins (`image: temporalio/server:1.29.7`) as a module
 * version (`v1.29.7`): the bench runs what production runs, and bumping the file bumps both.
 */
export async function composeServerVersion(composeFile = resolve(__dirname, '../../docker-compose.yml')): Promise<string> {
  const text = await readFile(composeFile, 'utf8');
  const m = /image:\s*temporalio\/server:(\d+\.\d+\.\d+)\b/.exec(text);
  if (!m) throw new Error(`no "image: temporalio/server:X.Y.Z" line in ${composeFile}: the bench builds the server version that file pins`);
  return `v${m[1]}`;
}

function cachedPaths(dir: string) {
  return { server: join(dir, 'temporal-server'), sqlTool: join(dir, 'temporal-sql-tool'), postgresSchema: join(dir, 'schema', 'postgresql', 'v12') };
}

/** Builds (or finds in the cache) the server and sql tool of `version`. */
export async function ensureTemporalBinaries(version: string, opts: { cacheDir?: string; log?: (line: string) => void } = {}): Promise<TemporalBinaries> {
  const t0 = performance.now();
  const root = join(opts.cacheDir ?? defaultCacheDir(), 'temporal-server');
  const dir = join(root, version);
  // The marker is written last, inside the directory renamed into place: its presence means complete.
  if (existsSync(join(dir, 'complete'))) {
    return { version, ...cachedPaths(dir), built: false, seconds: (performance.now() - t0) / 1000 };
  }
  await mkdir(root, { recursive: true });
  await removeStaleTemps(dir);
  const staging = tempPathFor(dir);
  try {
    await buildInto(staging, version, opts.log ?? (() => undefined));
    await writeFile(join(staging, 'complete'), `${TEMPORAL_MODULE}@${version}\n`);
    // Another run may have finished the same build meanwhile: theirs is as good as ours.
    await rename(staging, dir).catch(async (err) => {
      if (!existsSync(join(dir, 'complete'))) throw err;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { version, ...cachedPaths(dir), built: true, seconds: (performance.now() - t0) / 1000 };
}

async function buildInto(staging: string, version: string, log: (line: string) => void): Promise<void> {
  const go = await run('go', ['env', 'GOVERSION']).catch(() => {
    throw new Error(`Go is needed to build ${TEMPORAL_MODULE}@${version} once (then it is cached) and is not on PATH: install Go 1.25 or newer`);
  });
  log(`building ${TEMPORAL_MODULE}@${version} (./cmd/server, ./cmd/tools/sql) with ${go.stdout.trim()}: a few minutes, once`);
  // A private GOPATH and GOCACHE, deleted afterwards, as .ci/compose-config.sh does: nothing is
  // left behind but the two binaries. -modcacherw lets rm delete the module cache.
  const build = await mkdtemp(join(tmpdir(), 'starry-temporal-build-'));
  try {
    const env = {
      ...process.env,
      GOPATH: join(build, 'gopath'),
      GOCACHE: join(build, 'cache'),
      GOFLAGS: [process.env.GOFLAGS ?? '', '-modcacherw'].join(' ').trim(),
      // Pure Go (the sqlite driver is modernc's): a static binary that runs on any Linux.
      CGO_ENABLED: '0',
    };
    const info = JSON.parse((await run('go', ['mod', 'download', '-json', `${TEMPORAL_MODULE}@${version}`], { env })).stdout) as { Dir: string };
    await mkdir(staging, { recursive: true });
    // Built inside the module directory so its own go.mod (replace and exclude directives) applies;
    // `go install module/cmd@version` ignores those.
    const paths = cachedPaths(staging);
    for (const [out, pkg] of [
      [paths.server, './cmd/server'],
      [paths.sqlTool, './cmd/tools/sql'],
    ] as const) {
      await run('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', out, pkg], { env, cwd: info.Dir, timeoutMs: 1_800_000 });
    }
    await cp(join(info.Dir, 'schema', 'postgresql', 'v12'), paths.postgresSchema, { recursive: true });
  } finally {
    await rm(build, { recursive: true, force: true });
  }
}
