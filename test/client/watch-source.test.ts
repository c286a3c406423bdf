/**
 * What `npm run ui`'s watch page reads renders from (advertisedSource): whatever server the work
 * directory advertises, with one connection per address however many requests ask at the same
 * moment; when the server changes hands, the old connection is closed only once the requests still
 * using it are done (one closed under a call the SDK was retrying ended the ui's process, and its
 * page stopped updating). A real dev server; its second address is the same server under another name.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { listRenders } from '../../src/client/commands/list';
import { startInspectServer, type InspectServer } from '../../src/client/server/embedded-server';
import { advertisedSource } from '../../src/client/watch/server';
import { tempDir } from '../helpers/media-fixtures';

describe('the watch page’s source of renders', () => {
  let cleanup: () => Promise<void>;
  let workDir: string;
  let server: InspectServer | undefined;

  before(async () => {
    let root: string;
    ({ dir: root, cleanup } = await tempDir('starry-watch-source'));
    workDir = join(root, 'work');
    server = await startInspectServer(workDir, 'ui');
  });
  after(async () => {
    await server?.stop();
    await cleanup?.();
  });

  /** Records in `closed` when `client`'s connection is closed, under `name`. */
  function recordClose(client: Client, name: string, closed: string[]): void {
    const close = client.connection.close.bind(client.connection);
    client.connection.close = () => {
      closed.push(name);
      return close();
    };
  }

  test('requests at the same moment share one connection; when the server changes hands, the old one is closed after the requests using it', async () => {
    const advertPath = join(workDir, 'temporal', 'server.json');
    const advert = JSON.parse(await readFile(advertPath, 'utf8')) as { address: string };
    const source = advertisedSource(workDir);
    try {
      const [a, b] = await Promise.all([source(async ({ client }) => client), source(async ({ client }) => client)]);
      assert.equal(a, b, 'one connection for two requests at the same moment');

      const closed: string[] = [];
      recordClose(a, 'first', closed);
      const rows = await source(async ({ client }) => {
        assert.equal(client, a);
        // Meanwhile the server changes hands (here: the same server under another address), and another request comes.
        await writeFile(advertPath, JSON.stringify({ ...advert, address: advert.address.replace('127.0.0.1', 'localhost') }));
        const other = await source(async ({ client: next }) => {
          assert.notEqual(next, client, 'a connection to the newly advertised address');
          recordClose(next, 'second', closed);
          return listRenders(next, 5);
        });
        assert.deepEqual(other, []);
        assert.deepEqual(closed, [], 'the first connection stays open while a request uses it');
        // Still usable (closed, a call on it fails, or the SDK's retry of it throws from a timer).
        return listRenders(client, 5);
      });
      assert.deepEqual(rows, []);
      assert.deepEqual(closed, ['first'], 'closed once its last request was done');
    } finally {
      source.close();
    }
  });
});
