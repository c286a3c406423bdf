import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { checkRequest, cookieName } from '../../src/client/watch/access';
import { parseRange } from '../../src/client/watch/files';

const TOKEN = 'ab'.repeat(24);
const HOSTS = new Set(['127.0.0.1:4000', 'localhost:4000']);

function req(method: string, headers: Record<string, string>): IncomingMessage {
  return { method, headers } as unknown as IncomingMessage;
}
const check = (method: string, path: string, headers: Record<string, string>) =>
  checkRequest(req(method, headers), new URL(path, 'http://127.0.0.1:4000'), TOKEN, HOSTS, 4000);

test('watch page access: the token from the address or its cookie; POSTs need it in a header; other Hosts and Origins are refused', () => {
  const host = { host: '127.0.0.1:4000' };
  assert.deepEqual(check('GET', `/?token=${TOKEN}`, host), { ok: true, fromQuery: true });
  assert.deepEqual(check('GET', '/api/renders', { ...host, cookie: `other=1; ${cookieName(4000)}=${TOKEN}` }), { ok: true, fromQuery: false });
  assert.equal(check('GET', '/api/renders', host).ok, false, 'no token');
  assert.equal(check('GET', `/?token=${TOKEN.slice(1)}x`, host).ok, false, 'a wrong token');
  assert.equal(check('GET', '/', { host: 'localhost:4000', cookie: `${cookieName(4001)}=${TOKEN}` }).ok, false, 'another port’s cookie');
  assert.equal(check('GET', `/?token=${TOKEN}`, { host: 'attacker.example:4000' }).ok, false, 'a rebound DNS name');
  assert.equal(check('GET', `/?token=${TOKEN}`, { ...host, origin: 'http://attacker.example' }).ok, false, 'another origin');
  assert.equal(check('GET', `/?token=${TOKEN}`, { ...host, origin: 'http://127.0.0.1:4001' }).ok, false, 'another port is another origin');
  assert.equal(check('POST', '/api/renders/x/pause', { ...host, origin: 'http://127.0.0.1:4000', cookie: `${cookieName(4000)}=${TOKEN}` }).ok, false, 'a POST with the cookie only');
  assert.deepEqual(check('POST', '/api/renders/x/pause', { ...host, origin: 'http://127.0.0.1:4000', 'x-starry-token': TOKEN }), { ok: true, fromQuery: false });
});

test('byte ranges as video elements ask for them', () => {
  assert.equal(parseRange(undefined, 100), undefined);
  assert.deepEqual(parseRange('bytes=0-', 100), { start: 0, end: 99 });
  assert.deepEqual(parseRange('bytes=10-19', 100), { start: 10, end: 19 });
  assert.deepEqual(parseRange('bytes=90-200', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.equal(parseRange('bytes=100-', 100), null, 'past the end');
  assert.equal(parseRange('bytes=0-1,5-6', 100), undefined, 'several ranges: the whole file');
});
