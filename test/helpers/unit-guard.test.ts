/**
 * The unit suite's boundary (unit-guard.ts, preloaded by `npm run test:unit`) really holds: inside
 * it, starting a process, reaching a server outside this process or starting a Temporal server
 * throws, naming the fix; a server this process runs itself on loopback stays reachable.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import assert from 'node:assert/strict';
import childProcess, { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';

const refused = (what: RegExp) => (err: unknown) => {
  assert.ok(err instanceof Error, String(err));
  assert.equal(err.name, 'UnitTestBoundaryError', `${err.name}: ${err.message} (is this file run through npm run test:unit, which preloads test/helpers/unit-guard.ts?)`);
  assert.match(err.message, what);
  assert.match(err.message, /move this test to the integration suite/);
  return true;
};

test('starting a process throws, however it is called', () => {
  assert.throws(() => spawn('true'), refused(/may not start processes.*spawn\("true"\)/));
  assert.throws(() => execFileSync('true'), refused(/execFileSync/));
  assert.throws(() => childProcess.exec('true'), refused(/exec\(/));
  assert.throws(() => childProcess.fork('x.js'), refused(/fork/));
});

test('connecting to a server outside this process throws; one this process listens on is reachable', async () => {
  // A port nobody here listens on: the guard refuses before the kernel is asked.
  assert.throws(() => net.connect(9, '127.0.0.1'), refused(/may not connect to a server outside their own process \(127\.0\.0\.1:9\)/));
  assert.throws(() => net.connect({ host: '192.0.2.1', port: 443 }), refused(/192\.0\.2\.1:443/));

  const server = net.createServer((socket) => socket.end('hello'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk) => (text += chunk));
  await once(socket, 'end');
  assert.equal(text, 'hello');
  server.close();
});

test('starting or reaching a Temporal server throws', () => {
  assert.throws(() => TestWorkflowEnvironment.createLocal(), refused(/Temporal server \(TestWorkflowEnvironment\.createLocal\)/));
  assert.throws(() => NativeConnection.connect({ address: '127.0.0.1:7233' }), refused(/NativeConnection\.connect/));
});
