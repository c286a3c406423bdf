import { ApplicationFailure } from '@temporalio/common';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { FAILURE_TYPES } from '../workflows/contract';

// The layout is shared with the command line (clean); it lives in common so clients need not reach into activities.
export { renderPaths } from '../common/render-paths';

/**
 * Where a worker may write and delete. Anyone who can start a workflow can hand a worker any input,
 * so a worker checks every path it is given against its own configuration, never the other way round.
 */
export interface PathPolicy {
  /** Render directories (frames, stylized frames, checkpoints) must lie inside it. */
  workRoot: string;
  /** Output videos must lie inside one of these (or inside the work root). */
  outputRoots: readonly string[];
}

/** The real path of `p`: its deepest existing ancestor resolved through symlinks, the rest appended. */
function realPath(p: string): string {
  let existing = p;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  let real: string;
  try {
    real = realpathSync(existing);
  } catch {
    real = existing;
  }
  return resolve(real, relative(existing, p));
}

/** True when `p` is `root` itself (allowed only when `orSame`) or lies below it. */
function within(root: string, p: string, orSame: boolean): boolean {
  const rel = relative(root, p);
  if (rel === '') return orSame;
  return rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

function refuse(what: string, given: unknown, why: string): never {
  throw ApplicationFailure.nonRetryable(`${what} ${JSON.stringify(given)} is not allowed on this worker: ${why}`, FAILURE_TYPES.pathNotAllowed);
}

/** True when `p` lies inside `root`, both lexically and once symlinks are followed. */
function inside(root: string, p: string, orSame: boolean): boolean {
  return within(resolve(root), resolve(p), orSame) && within(realPath(resolve(root)), realPath(resolve(p)), orSame);
}

/**
 * The render directory of an activity input, checked: absolute, below the work root, and still
 * below it once `..` and symlinks are resolved. Otherwise a non-retryable PathNotAllowed failure.
 */
export function checkRenderDir(policy: PathPolicy, renderDir: unknown): string {
  if (typeof renderDir !== 'string' || renderDir === '' || !isAbsolute(renderDir)) {
    refuse('render directory', renderDir, 'it must be an absolute path');
  }
  const resolved = resolve(renderDir);
  if (!inside(policy.workRoot, resolved, false)) {
    refuse('render directory', renderDir, `render directories must lie inside the worker's work root ${resolve(policy.workRoot)} ({workRoot}, STARRY_WORK_ROOT)`);
  }
  return resolved;
}

/** The output video of an assembly, checked: absolute and inside an output root or the work root. */
export function checkOutput(policy: PathPolicy, output: unknown): string {
  if (typeof output !== 'string' || output === '' || !isAbsolute(output)) refuse('output', output, 'it must be an absolute path');
  const resolved = resolve(output);
  const roots = [policy.workRoot, ...policy.outputRoots];
  if (!roots.some((root) => inside(root, resolved, false))) {
    refuse('output', output, `outputs must lie inside ${roots.map((r) => resolve(r)).join(' or ')} ({outputRoot}, STARRY_OUTPUT_ROOT)`);
  }
  return resolved;
}

/** A frame number that names a file: a whole number from 1. */
export function checkFrame(frame: unknown): number {
  if (typeof frame !== 'number' || !Number.isSafeInteger(frame) || frame < 1) refuse('frame', frame, 'frames are whole numbers from 1');
  return frame;
}

/** A chunk index that names a directory: a whole number from 0. */
export function checkChunk(chunk: unknown): number {
  if (typeof chunk !== 'number' || !Number.isSafeInteger(chunk) || chunk < 0) refuse('chunk', chunk, 'chunks are whole numbers from 0');
  return chunk;
}
