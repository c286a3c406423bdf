/**
 * The production cluster of docker-compose.yml, without Docker, with a render through it:
 *
 *   npm run bench -- --only cluster [--cluster-frames 8 --cluster-size 64 --cluster-epochs 3
 *                                    --cluster-steps 12 --cluster-backend wasm --cluster-server-down 30
 *                                    --cluster-keep]
 *   npx tsx bench/cluster/run.ts [same flags]
 *
 * Builds (once; then cached per version) the Temporal server and temporal-sql-tool at the release
 * docker-compose.yml pins, starts a throwaway PostgreSQL from Debian's packages and the server on
 * free loopback ports in a temporary directory, applies the schema and creates the namespace as
 * the compose jobs do, then renders a generated clip with one media and two style workers three
 * times: undisturbed; with one style worker SIGKILLed mid-frame; and with a frame held in flight
 * while the Temporal server is SIGKILLed (down --cluster-server-down seconds) and started again, and
 * PostgreSQL is restarted (scenario.ts, outage.ts). Checks the videos and that every stylized frame
 * is byte-identical to the undisturbed render's. Everything is torn down, also on failure or Ctrl-C.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stopAllProcesses } from '../../test/helpers/processes';
import { startPostgres, type Postgres } from './postgres';
import { runScenario, type ScenarioReport } from './scenario';
import { composeServerVersion, ensureTemporalBinaries, type TemporalBinaries } from './temporal-build';
import { applySchema, ensureNamespace, startTemporalServer, type TemporalServer } from './temporal-server';

export interface ClusterBenchOptions {
  frames: number;
  size: number;
  epochs: number;
  stepsPerEpoch: number;
  backend: string;
  /** How long the Temporal server stays down in the outage render. */
  serverDownSeconds: number;
  /** Keep the temporary directory (server log, config, work files) for a look afterwards. */
  keep?: boolean;
}

// A frame takes a second or two on one core. The kill does not depend on it (the victim's frame
// stalls until it is killed, see scenario.ts); it only sets how long the render takes.
// The server stays down 30 s: longer than the SDK's own retries of a call (about 15 s), so what
// carries start-render through is its reconnect (src/client/server/reconnect.ts), which the bench checks.
export const CLUSTER_DEFAULTS: ClusterBenchOptions = { frames: 8, size: 64, epochs: 3, stepsPerEpoch: 12, backend: 'wasm', serverDownSeconds: 30 };

const since = (t0: number) => (performance.now() - t0) / 1000;
const log = (line: string) => console.log(`  ${line}`);

export async function runClusterBench(opts: ClusterBenchOptions): Promise<void> {
  const t0 = performance.now();
  const version = await composeServerVersion();
  console.log(`\n# cluster: docker-compose.yml's services without Docker (temporal server ${version}, postgres12 plugin), a render through them`);
  const bin: TemporalBinaries = await ensureTemporalBinaries(version, { log });
  log(`binaries: ${bin.built ? `built in ${bin.seconds.toFixed(0)} s (cold)` : `cached (${bin.seconds.toFixed(2)} s)`}: ${bin.server}`);

  const dir = await mkdtemp(join(tmpdir(), 'starry-cluster-'));
  let pg: Postgres | undefined;
  let server: TemporalServer | undefined;
  // Ctrl-C or a kill still stops the servers and workers started here and deletes their files.
  // One teardown however many ask (the signal handler and the failing main path both do), so
  // neither exits the process while the other is still stopping PostgreSQL.
  let tornDown: Promise<void> | undefined;
  const teardown = () =>
    (tornDown ??= (async () => {
      stopAllProcesses();
      await server?.stop();
      await pg?.stop();
      if (!opts.keep) await rm(dir, { recursive: true, force: true });
    })());
  let interrupted = false;
  // Handled every time, not once: a signal sent to the process group reaches this process both
  // directly and relayed by tsx (and npm), and the default action of the second would kill it
  // halfway through the teardown, leaving PostgreSQL running (pg_ctl detaches it from the group).
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`${signal}: stopping the workers, the Temporal server and PostgreSQL, and deleting ${opts.keep ? 'nothing' : dir}`);
    void teardown().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let t = performance.now();
    pg = await startPostgres({ log });
    const pgSeconds = since(t);
    t = performance.now();
    await applySchema(bin, pg, log);
    const schemaSeconds = since(t);
    t = performance.now();
    server = await startTemporalServer(bin, pg, dir, log);
    const serverSeconds = since(t);
    t = performance.now();
    const ns = await ensureNamespace(server.address, server.namespace);
    const nsSeconds = since(t);
    log(`namespace ${server.namespace} ${ns} and usable in ${nsSeconds.toFixed(1)} s`);

    const report = await runScenario({
      address: server.address,
      namespace: server.namespace,
      dir,
      frames: opts.frames,
      size: opts.size,
      epochs: opts.epochs,
      stepsPerEpoch: opts.stepsPerEpoch,
      heartbeatTimeout: 6,
      backend: opts.backend,
      restartServer: () => server!.restart('SIGKILL', opts.serverDownSeconds),
      // The SDK retries a call for about 15 s (10 tries, backoff to 5 s) before the client's reconnect takes over.
      expectReconnect: opts.serverDownSeconds >= 20,
      restartPostgres: () => pg!.restart(),
      log,
    });
    printReport(report, { bin, pgSeconds, schemaSeconds, serverSeconds, nsSeconds, totalSeconds: since(t0), pg, opts });
  } catch (err) {
    if (server && !interrupted) console.error(`temporal server log (last lines):\n${server.output().split('\n').slice(-20).join('\n')}`);
    if (opts.keep) console.error(`kept ${dir}`);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await teardown();
  }
}

function printReport(
  r: ScenarioReport,
  m: { bin: TemporalBinaries; pgSeconds: number; schemaSeconds: number; serverSeconds: number; nsSeconds: number; totalSeconds: number; pg: Postgres; opts: ClusterBenchOptions },
) {
  const o = m.opts;
  const k = r.kill;
  const u = r.outage;
  console.log(`build: ${m.bin.built ? `${m.bin.seconds.toFixed(0)} s cold (go build of ./cmd/server and ./cmd/tools/sql)` : `cached, ${m.bin.seconds.toFixed(2)} s`}`);
  console.log(
    `start: postgresql ${m.pg.version} ${m.pgSeconds.toFixed(1)} s, schema (2 databases) ${m.schemaSeconds.toFixed(1)} s, ` +
      `temporal server to SERVING ${m.serverSeconds.toFixed(1)} s, namespace ${m.nsSeconds.toFixed(1)} s, workers ${r.workerStartSeconds.toFixed(1)} s`,
  );
  console.log(`reference: ${r.frames} frames (${o.size} px, ${o.epochs}×${o.stepsPerEpoch} steps, ${o.backend}) undisturbed in ${r.referenceSeconds.toFixed(1)} s`);
  console.log(
    `kill: ${r.frames} frames in ${k.renderSeconds.toFixed(1)} s (${(k.renderSeconds / r.frames).toFixed(2)} s/frame with the kill and its 6 s heartbeat timeout); ` +
      `${k.killed.name} SIGKILLed ${k.killedAfterSeconds.toFixed(1)} s in, holding frame ${k.killed.frame}, ${k.killed.doneBefore} frames done; ` +
      `frame ${k.killed.frame} finished on attempt ${k.killedFrame.attempt}, ` +
      (k.killedFrame.resumedFromStep > 0 ? `resumed from its checkpoint at step ${k.killedFrame.resumedFromStep}` : 'started over (no checkpoint used)'),
  );
  console.log(`kill stats: computed ${k.stats.computed}, retried ${k.stats.retried}, resumed ${k.stats.resumed}, failures ${k.stats.failures}`);
  console.log(`kill video: ${k.video.frames} frames decoded, ${k.video.durationSeconds.toFixed(3)} s (expected ${k.video.expectedSeconds.toFixed(3)} s), audio ${k.video.audio}`);
  console.log(
    `outage: ${u.frames} frames in ${u.renderSeconds.toFixed(1)} s, frame 3 held by ${u.holder} (${u.doneBefore} frames done) through: ` +
      `temporal server SIGKILL → SERVING ${u.serverAwaySeconds.toFixed(1)} s (+${u.serverAnswerSeconds.toFixed(1)} s to the first answered query), ` +
      `postgresql immediate restart ${u.postgresAwaySeconds.toFixed(1)} s (+${u.postgresAnswerSeconds.toFixed(1)} s); ` +
      `held frame finished on attempt ${u.heldFrameAttempt}; retried ${u.stats.retried}${u.retriedFrames.length ? ` (frame${u.retriedFrames.length > 1 ? 's' : ''} ${u.retriedFrames.join(', ')})` : ''}, failures ${u.stats.failures}; workers and start-render survived`,
  );
  for (const line of u.clientLines) console.log(`outage, start-render said: ${line}`);
  console.log(`identical: all ${r.frames} stylized PNGs of the killed and the outage renders byte-identical to the undisturbed render's`);
  const flags =
    `--cluster-frames ${o.frames} --cluster-size ${o.size} --cluster-epochs ${o.epochs} --cluster-steps ${o.stepsPerEpoch} ` +
    `--cluster-backend ${o.backend} --cluster-server-down ${o.serverDownSeconds}`;
  console.log(`total: ${m.totalSeconds.toFixed(1)} s   npm run bench -- --only cluster ${flags}`);
}

/** Flags shared by bench.ts and the standalone entry point. */
export const CLUSTER_FLAGS = {
  'cluster-frames': { type: 'string', default: String(CLUSTER_DEFAULTS.frames) },
  'cluster-size': { type: 'string', default: String(CLUSTER_DEFAULTS.size) },
  'cluster-epochs': { type: 'string', default: String(CLUSTER_DEFAULTS.epochs) },
  'cluster-steps': { type: 'string', default: String(CLUSTER_DEFAULTS.stepsPerEpoch) },
  'cluster-backend': { type: 'string', default: CLUSTER_DEFAULTS.backend },
  'cluster-server-down': { type: 'string', default: String(CLUSTER_DEFAULTS.serverDownSeconds) },
  'cluster-keep': { type: 'boolean', default: false },
} as const;

export function clusterOptionsFrom(values: Record<string, string | boolean | undefined>): ClusterBenchOptions {
  const whole = (name: string, min: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number of at least ${min} (got ${values[name]})`);
    return n;
  };
  return {
    // At least 4 frames: two done before the kill, the killed one, and one after it.
    frames: whole('cluster-frames', 4),
    size: whole('cluster-size', 16),
    epochs: whole('cluster-epochs', 1),
    stepsPerEpoch: whole('cluster-steps', 2),
    backend: String(values['cluster-backend']),
    serverDownSeconds: whole('cluster-server-down', 0),
    keep: Boolean(values['cluster-keep']),
  };
}

if (require.main === module) {
  const { values } = parseArgs({ options: CLUSTER_FLAGS });
  runClusterBench(clusterOptionsFrom(values)).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
