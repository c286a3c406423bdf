/**
 * Preloaded into every `npm run test:unit` test file (node --import ./test/helpers/unit-guard.ts):
 * the unit suite is what runs in a minute on a laptop, so a unit test may not start a process
 * (ffmpeg, the CLI, a Temporal dev server) nor talk to a server outside its own process. Doing so
 * throws UnitTestBoundaryError, which names the call and says to move the test file to the
 * integration suite. The test runner's own process (which spawns one child per test file) is left
 * alone: the guard acts only inside those children (NODE_TEST_CONTEXT), or where asked to
 * (STARRY_UNIT_GUARD=1, for the test that proves it fires).
 */
import childProcess from 'node:child_process';
import Module, { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

export class UnitTestBoundaryError extends Error {
  override name = 'UnitTestBoundaryError';
}

const MOVE = 'move this test to the integration suite (a folder in `npm run test:integration`)';

/** esbuild's transform service (tsx compiling the tests themselves) is the one process allowed. */
function startedByTsx(): boolean {
  const stack = new Error().stack ?? '';
  return /[\\/]node_modules[\\/](esbuild|tsx)[\\/]/.test(stack);
}

function guardProcesses(): void {
  const cp = childProcess as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
    const original = cp[name];
    cp[name] = function guarded(this: unknown, ...args: unknown[]) {
      if (!startedByTsx()) {
        throw new UnitTestBoundaryError(`unit tests may not start processes (child_process.${name}(${JSON.stringify(String(args[0]))})): ${MOVE}`);
      }
      return original.apply(this, args);
    };
  }
}

/** Ports this process listens on: a unit test may talk to a server it runs itself, in its own process. */
const ownPorts = new Set<number>();

function guardNetwork(): void {
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function guardedListen(this: net.Server, ...args: unknown[]) {
    this.once('listening', () => {
      const address = this.address();
      if (address && typeof address === 'object') ownPorts.add(address.port);
    });
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof listen;
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    const target = connectTarget(args);
    if (target && !(isLoopback(target.host) && ownPorts.has(target.port))) {
      throw new UnitTestBoundaryError(`unit tests may not connect to a server outside their own process (${target.host}:${target.port}): ${MOVE}`);
    }
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof connect;
}

/** The TCP host and port of a Socket#connect call (undefined for a Unix socket or pipe). */
function connectTarget(args: unknown[]): { host: string; port: number } | undefined {
  // Node calls connect with its normalized [options, callback] pair; user code may pass (port, host).
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof first === 'object' && first !== null) {
    const o = first as { port?: number | string; host?: string; path?: string };
    if (o.path !== undefined || o.port === undefined) return undefined;
    return { host: o.host ?? 'localhost', port: Number(o.port) };
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: Number(first) };
  }
  return undefined;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

/**
 * The Temporal SDK starts its dev server and opens its worker connections in Rust, out of reach of
 * the guards above, so its entry points are guarded when the packages load.
 */
function guardTemporal(): void {
  const blocked: Record<string, Record<string, string[]>> = {
    '@temporalio/testing': { TestWorkflowEnvironment: ['createLocal', 'createTimeSkipping', 'createFromExistingServer'] },
    '@temporalio/worker': { NativeConnection: ['connect'] },
  };
  const patched = new WeakSet<object>();
  const mod = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = mod._load;
  mod._load = function guardedLoad(request: string, ...rest: unknown[]) {
    const exports = load.call(this, request, ...rest) as Record<string, Record<string, unknown>>;
    const classes = blocked[request];
    if (classes && exports && !patched.has(exports)) {
      patched.add(exports);
      for (const [cls, methods] of Object.entries(classes)) {
        for (const method of methods) {
          Object.defineProperty(exports[cls], method, {
            value: () => {
              throw new UnitTestBoundaryError(`unit tests may not start or reach a Temporal server (${cls}.${method}): ${MOVE}`);
            },
          });
        }
      }
    }
    return exports;
  };
}

export function installUnitGuard(): void {
  guardProcesses();
  guardNetwork();
  guardTemporal();
  // ES modules' named imports (import { spawn } from 'node:child_process') see the guarded functions too.
  syncBuiltinESMExports();
}

if (process.env.NODE_TEST_CONTEXT !== undefined || process.env.STARRY_UNIT_GUARD === '1') installUnitGuard();
