import { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../common/atomic';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { findTemporalCli } from './temporal-cli';

export interface EmbeddedServer {
  env: TestWorkflowEnvironment;
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A Temporal dev server whose database lives in the work directory, so a render survives a crash
 * or Ctrl-C of this process: the next start opens the same database and the workflow carries on.
 */
export async function startEmbeddedServer(workRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<EmbeddedServer> {
  const dbDir = join(workRoot, 'temporal');
  await mkdir(dbDir, { recursive: true });
  const cli = findTemporalCli(env);
  const [port, uiPort] = [await freePort(), await freePort()];
  const testEnv = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: cli ? { type: 'existing-path', path: cli } : { type: 'cached-download' },
      dbFilename: join(dbDir, 'dev.sqlite'),
      ip: '127.0.0.1',
      port,
      ui: true,
      uiPort,
      log: { format: 'pretty', level: 'error' },
    },
  });
  const address = `127.0.0.1:${port}`;
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  // Lets `status`, `set-epochs` and friends find this server without being told its port.
  const advert = serverFilePath(workRoot);
  await writeFileAtomic(advert, JSON.stringify({ address, uiUrl, pid: process.pid }));
  return {
    env: testEnv,
    address,
    uiUrl,
    stop: async () => {
      await rm(advert, { force: true });
      await testEnv.teardown();
    },
  };
}

const serverFilePath = (workRoot: string) => join(workRoot, 'temporal', 'server.json');

/** The embedded server a running start-render advertises in this work directory, if its process lives. */
export async function readServerFile(workRoot: string): Promise<{ address: string; uiUrl: string } | undefined> {
  try {
    const info = JSON.parse(await readFile(serverFilePath(workRoot), 'utf8')) as { address: string; uiUrl: string; pid: number };
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}
