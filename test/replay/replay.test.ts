/**
 * Renders run for days, and the workflow code changes under them. Every history recorded with an
 * earlier release (test/replay/histories, `npm run record-histories`) must replay against the
 * workflow code as it is now; a change that would break a render in flight fails here. How to
 * change the workflow safely: docs/changing-the-workflow.md.
 */
import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { installRuntime } from '../../src/worker/runtime';
import { workflowBundle } from '../../src/worker/workers';
import { HISTORIES_DIR, historyFromJson } from './history-json';

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json')).sort();

test('the fixtures cover retries and a resumed frame, continue-as-new, a paused, steered, cancelled render, a skipped frame, and the coherent mode', () => {
  for (const scenario of ['retry-resume', 'continue-as-new', 'steered-cancelled', 'chunked', 'chunked-coherent']) {
    assert.ok(files.some((f) => f.startsWith(`${scenario}-run`)), `a history of "${scenario}" is recorded`);
  }
  assert.ok(files.filter((f) => f.startsWith('continue-as-new-run')).length >= 2, 'continue-as-new has a carried-over run');
});

test('every recorded history replays against the current workflow code', async () => {
  installRuntime();
  const histories = files.map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: historyFromJson(readFileSync(join(HISTORIES_DIR, f), 'utf8')) }));
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
    replayed++;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
  }
  assert.equal(replayed, files.length);
  assert.deepEqual(failures, [], 'a history recorded earlier no longer replays: this change would break renders in flight');
});
