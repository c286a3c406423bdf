/**
 * The arrows run one way: client → worker → activities → engine/media → (native) → common, with the shared
 * command-line plumbing (cli-common) under client and worker, and workflows importing only types
 * and their own contract (the sandbox must not load Node code).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { REPO } from './processes';

const ALLOWED: Record<string, string[]> = {
  common: [],
  'cli-common': [],
  // npm ci's native TensorFlow installer; the engine and doctor read what it recorded.
  native: ['common'],
  media: ['common'],
  engine: ['common', 'media', 'native'],
  activities: ['common', 'engine', 'media', 'workflows'],
  workflows: [],
  worker: ['cli-common', 'common', 'engine', 'media', 'activities', 'workflows'],
  client: ['cli-common', 'common', 'engine', 'media', 'native', 'worker', 'workflows'],
};

/** Every .ts file under `dir`, subfolders included (client/commands, engine/graph, …). */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The layer (src/<layer>/…) each relative import of `layer`'s files lands in; imports within the layer are left out. */
function imports(layer: string): Array<{ file: string; target: string; typeOnly: boolean }> {
  const src = join(REPO, 'src');
  return sourceFiles(join(src, layer)).flatMap((path) =>
    [...readFileSync(path, 'utf8').matchAll(/^(import|export)( type)?[^'";]*?from '(\.\.?\/[^']*)'/gms)]
      .map((m) => ({
        file: relative(src, path),
        target: relative(src, resolve(dirname(path), m[3])).split(sep)[0],
        typeOnly: Boolean(m[2]),
      }))
      .filter((i) => i.target !== layer),
  );
}

test('every layer imports only the layers below it', () => {
  const layers = readdirSync(join(REPO, 'src'));
  assert.deepEqual(layers.sort(), Object.keys(ALLOWED).sort(), 'a new layer needs its place in ALLOWED');
  const wrong = layers.flatMap((layer) =>
    imports(layer)
      .filter((i) => !ALLOWED[layer].includes(i.target) && !(layer === 'workflows' && i.typeOnly))
      .map((i) => `${i.file} imports ${i.target}/`),
  );
  assert.deepEqual(wrong, []);
});

test('activities use only the contract of the workflows', () => {
  const text = readdirSync(join(REPO, 'src/activities')).map((f) => readFileSync(join(REPO, 'src/activities', f), 'utf8')).join('\n');
  assert.deepEqual([...text.matchAll(/from '\.\.\/workflows\/([\w-]+)'/g)].map((m) => m[1]).filter((m) => m !== 'contract'), []);
});
