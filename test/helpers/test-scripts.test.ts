/** Every test file runs in exactly one of `npm run test:unit` and `npm run test:integration`. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from './processes';

test('each test directory belongs to test:unit or test:integration, not both, not neither', () => {
  const scripts = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts as Record<string, string>;
  const dirsOf = (script: string) => [...scripts[script].matchAll(/test\/([\w-]+)\/\*\.test\.ts/g)].map((m) => m[1]);
  const unit = dirsOf('test:unit');
  const integration = dirsOf('test:integration');
  const withTests = readdirSync(join(REPO, 'test'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && readdirSync(join(REPO, 'test', d.name)).some((f) => f.endsWith('.test.ts')))
    .map((d) => d.name)
    .sort();
  assert.deepEqual([...unit, ...integration].sort(), withTests);
  assert.match(scripts.test, /test:unit.*&&.*test:integration/);
});

test('test:unit runs under the unit guard (no processes, no outside servers), test:integration without it', () => {
  const scripts = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts as Record<string, string>;
  // The guard must load before the tests and be the one unit-guard.test.ts proves (it fails without it).
  assert.match(scripts['test:unit'], /^node --import tsx --import \.\/test\/helpers\/unit-guard\.ts --test /);
  assert.doesNotMatch(scripts['test:integration'], /unit-guard/);
});
