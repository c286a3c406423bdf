/**
 * Layers below the command line never spell a CLI flag (issue 20): their messages name a setting by
 * its key in braces (`Give {input} a video`, `lower {size}`), and the command line, which owns the
 * flags (the option table, the worker's flags), names it by flag where a person reads it. Read with
 * the TypeScript compiler's own parse: string and template literals only, comments left alone.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { settingKeysIn } from '../../src/common/setting-names';
import { flagNamed, withFlags } from '../../src/client/setup/render-option-values';
import { WORKER_FLAGS } from '../../src/worker/flags';
import { FIX_COMMANDS } from '../../src/workflows/contract';
import { REPO } from './processes';

const BELOW_CLIENT = ['engine', 'media', 'activities', 'workflows', 'common'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every string literal and every literal part of a template in the layers below the client. */
function literals(): Array<{ at: string; text: string }> {
  return BELOW_CLIENT.flatMap((layer) => sourceFiles(join(REPO, 'src', layer))).flatMap((file) => {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const found: Array<{ at: string; text: string }> = [];
    const visit = (node: ts.Node) => {
      if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) {
        const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
        found.push({ at: `${relative(REPO, file)}:${line}`, text: node.text });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    return found;
  });
}

test('no string in engine, media, activities, workflows or common spells a CLI flag', () => {
  const spelt = literals().filter((l) => /--[a-z]/.test(l.text));
  assert.deepEqual(spelt.map((l) => `${l.at}: ${l.text}`), [], 'name the setting by its key instead: {size}, not --size');
});

test('every {key} below the client names a render option, a file or a worker flag, and reads as that flag', () => {
  const used = literals().flatMap((l) => settingKeysIn(l.text).map((key) => ({ ...l, key })));
  assert.ok(used.length >= 20, `the messages below the client name settings by key (found ${used.length})`);
  const unknown = used.filter((u) => !flagNamed(u.key) && !(u.at.startsWith('src/workflows/contract.ts') && FIX_COMMANDS.includes(u.key)));
  assert.deepEqual(unknown.map((u) => `${u.at}: {${u.key}}`), [], 'a key no layer renders would reach a person as {key}');
  for (const { at, text, key } of used.filter((u) => flagNamed(u.key))) {
    const shown = withFlags(text);
    assert.ok(shown.includes(flagNamed(key)!) && !shown.includes(`{${key}}`), `${at}: ${shown}`);
  }
});

test('the known messages read as their flags', () => {
  assert.equal(withFlags('Give {input} a video such as an .mp4 or .mov.'), 'Give --input a video such as an .mp4 or .mov.');
  assert.equal(withFlags('raise {heartbeatTimeoutSeconds} or lower {size}'), 'raise --heartbeat-timeout or lower --size');
  assert.equal(withFlags('(or {workDir}/{workRoot}), fewer {styleConcurrency}, {outputRoot}'), '(or --work-dir/--work-root), fewer --style-concurrency, --output-root');
  assert.equal(withFlags('{backend} {weights} {engine} copy {open} {frames}'), '--backend --weights --engine copy --open-chunks --chunk-frames');
  // Braces that are not a known key are a path's or a tool's own: left as they are.
  assert.equal(withFlags('"/tmp/{draft}/a.mp4" {retry} {"a":1}'), '"/tmp/{draft}/a.mp4" {retry} {"a":1}');
});

test("a key that is both a render setting and a worker's own names the same flag in both", () => {
  for (const [key, flag] of Object.entries(WORKER_FLAGS)) assert.equal(flagNamed(key), flag, key);
});
