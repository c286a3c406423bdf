/**
 * whileServerAway: a server that stops answering is waited for (up to a bound), with one line when
 * it goes and one when it is back; other errors end at once. Fake calls and a fake clock: no server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServiceError } from '@temporalio/client';
import { isServerAway, whileServerAway, type AwayOptions } from '../../src/client/server/reconnect';

/** What the SDK throws when the server cannot be reached: a ServiceError around a gRPC error. */
function away(code = 14): ServiceError {
  const grpc = Object.assign(new Error(`${code} UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:7233. Resolution note: `), { code, details: 'No connection established', metadata: {} });
  return new ServiceError('Failed to get Workflow execution history', { cause: grpc });
}

function fakeClock(): Pick<AwayOptions, 'now' | 'pause'> & { said: string[]; say(l: string): void } {
  let t = 0;
  const said: string[] = [];
  return { said, say: (l) => said.push(l), now: () => t, pause: async (ms) => void (t += ms) };
}

test('what counts as the server being away: UNAVAILABLE and DEADLINE_EXCEEDED, bare or inside a ServiceError', () => {
  assert.equal(isServerAway(away(14)), true);
  assert.equal(isServerAway(away(4)), true);
  assert.equal(isServerAway(away(14).cause), true);
  assert.equal(isServerAway(away(5)), false, 'NOT_FOUND is an answer');
  assert.equal(isServerAway(new Error('Workflow execution failed')), false);
});

test('the call is made again once the server answers; one line when it went, one when it is back', async () => {
  const clock = fakeClock();
  let calls = 0;
  let probes = 0;
  const result = await whileServerAway(
    async () => (++calls === 1 ? Promise.reject(away()) : 'done'),
    async () => {
      if (++probes < 4) throw away();
    },
    { server: 'the Temporal server at 127.0.0.1:7233', followUp: 'npm run status -- r1', ...clock },
  );
  assert.equal(result, 'done');
  assert.equal(calls, 2);
  assert.equal(probes, 4);
  assert.equal(clock.said.length, 2, clock.said.join('\n'));
  assert.match(clock.said[0]!, /^the Temporal server at 127\.0\.0\.1:7233 does not answer \(14 UNAVAILABLE: No connection established\. Last error: Error: connect ECONNREFUSED 127\.0\.0\.1:7233\): .* waiting up to 10 min/);
  assert.match(clock.said[1]!, /^the Temporal server at 127\.0\.0\.1:7233 answers again after 3 s of waiting; following the render$/);
});

test('past the limit it ends with one line naming the fix and the status command; other errors end at once', async () => {
  const clock = fakeClock();
  const opts = { server: 'the Temporal server at h:1', followUp: 'npm run status -- r1 --address h:1', limitMs: 5000, ...clock };
  await assert.rejects(
    whileServerAway(() => Promise.reject(away()), () => Promise.reject(away()), opts),
    /^Error: the Temporal server at h:1 has not answered for 6 s \(14 UNAVAILABLE.*\): start it again \(its database too\); the render goes on then, follow it with npm run status -- r1 --address h:1$/,
  );
  const failed = new Error('Workflow execution failed');
  await assert.rejects(whileServerAway(() => Promise.reject(failed), () => Promise.resolve(), opts), (err) => err === failed);
});
