/**
 * What the watch page shows, as small JSON: a render's progress (the workflow's query while it is
 * served, its history when interrupted, its result once closed), its latest frames (from the
 * thumbnails' records beside the frames, read once each), its chunks and its segments.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { framePath, thumbnailPaths, type FrameView } from '../../media';
import { renderPaths } from '../../common/render-paths';
import type { RenderProgress } from '../../workflows/contract';
import { formatRanges } from '../../workflows/frame-set';
import { liveState, oneLineReason } from '../report/attention';
import { listRenders, type ListedRender } from '../commands/list';
import { settle, type Ending } from '../report/ending';
import { interruptedProgress } from '../report/interrupted';
import { readSnapshot } from '../report/progress';

/** Frames shown, newest first. */
export const LATEST_FRAMES = 12;
/** Renders the list page shows. */
export const LIST_LIMIT = 100;

export type ChunkCell = 'pending' | 'extracting' | 'stylizing' | 'encoding' | 'done' | 'failed' | 'skipped';

export interface FrameCard extends FrameView {
  thumb: string;
  /** Absent when the frame is its own original (copy engine) or the original's thumbnail is gone. */
  original?: string;
}

export interface RenderPage {
  id: string;
  /** running, paused, needs-attention, interrupted, done, cancelled, failed… */
  state: string;
  /** Whether workers serve it now: the buttons work only then. */
  served: boolean;
  phase: string | null;
  done: number;
  total: number | null;
  etaSeconds: number | null;
  meanSecondsPerFrame: number | null;
  epochs: number | null;
  stylized: boolean;
  input: string | null;
  output: string | null;
  message: string | null;
  live: Array<{ frame: number; step: number; totalSteps: number }>;
  chunks: { cells: ChunkCell[]; framesPerChunk: number | null; counts: Partial<Record<ChunkCell, number>> };
  failed: { count: number; ranges: string; groups: Array<{ count: number; reason: string; sample: number[] }> };
  skipped: { count: number; ranges: string };
  frames: FrameCard[];
  segments: Array<{ index: number; first: number; last: number; url: string }>;
  video: string | null;
}

/** True when `p` lies inside `root`. */
function inside(root: string, p: string): boolean {
  const rel = relative(resolve(root), resolve(p));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * Records of the frames on disk, by file name: each is read once, when it first appears, and
 * dropped when its frame is deleted (its chunk encoded), so a refresh costs a directory listing.
 */
export class FrameViews {
  private readonly known = new Map<string, Map<string, FrameView>>();

  async latest(renderDir: string, count: number): Promise<FrameView[]> {
    const dir = renderPaths(renderDir).styled;
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.view.json'));
    const before = this.known.get(dir) ?? new Map<string, FrameView>();
    const now = new Map<string, FrameView>();
    for (const name of names) {
      const view = before.get(name) ?? (await readFile(join(dir, name), 'utf8').then((t) => JSON.parse(t) as FrameView, () => undefined));
      if (view) now.set(name, view);
    }
    this.known.set(dir, now);
    return [...now.values()].sort((a, b) => b.finishedAt.localeCompare(a.finishedAt) || b.frame - a.frame).slice(0, count);
  }
}

/** The complete segments in a render's directory (each has its record, written after it). */
async function segmentsOf(renderDir: string): Promise<Array<{ index: number; first: number; last: number }>> {
  const dir = renderPaths(renderDir).segments;
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^segment_\d{4,}\.mp4\.json$/.test(n));
  const found = [];
  for (const name of names.sort()) {
    const record = await readFile(join(dir, name), 'utf8').then((t) => JSON.parse(t) as { first: number; last: number }, () => undefined);
    if (record && existsSync(join(dir, name.replace(/\.json$/, '')))) found.push({ index: Number(/\d+/.exec(name)![0]) - 1, ...record });
  }
  return found;
}

/** Each chunk's cell in the strip: done chunks (encoded in order), open chunks by phase, failed frames marking theirs. */
function chunkCells(p: RenderProgress): RenderPage['chunks'] {
  const view = p.chunks;
  if (!view) return { cells: [], framesPerChunk: null, counts: {} };
  const cells: ChunkCell[] = Array.from({ length: view.total }, (_, i) => (i < view.encoded ? 'done' : 'pending'));
  const open = { extracting: 'extracting', styling: 'stylizing', encoding: 'encoding', encoded: 'done' } as const;
  for (const chunk of view.open) cells[chunk.index] = open[chunk.phase];
  const chunkOf = (frame: number) => Math.floor((frame - 1) / view.framesPerChunk);
  for (const [first, last] of view.skipped.ranges) for (let c = chunkOf(first); c <= chunkOf(last); c++) cells[c] = 'skipped';
  for (const [first, last] of p.failedFrames.ranges) for (let c = chunkOf(first); c <= chunkOf(last); c++) cells[c] = 'failed';
  const counts: Partial<Record<ChunkCell, number>> = {};
  for (const cell of cells) counts[cell] = (counts[cell] ?? 0) + 1;
  return { cells, framesPerChunk: view.framesPerChunk, counts };
}

function failedOf(p: RenderProgress | undefined): RenderPage['failed'] {
  if (!p) return { count: 0, ranges: '', groups: [] };
  const failed = p.failedFrames;
  return { count: failed.count, ranges: formatRanges(failed), groups: failed.errors.map((g) => ({ count: g.count, reason: oneLineReason(g.error), sample: g.sample })) };
}

function fromProgress(id: string, state: string, served: boolean, p: RenderProgress): RenderPage {
  const skipped = p.chunks?.skipped ?? { count: 0, ranges: [], rangesOmitted: 0 };
  return {
    id,
    state,
    served,
    phase: p.phase,
    done: p.done,
    total: p.total || null,
    etaSeconds: p.etaSeconds,
    meanSecondsPerFrame: p.meanSecondsPerFrame,
    epochs: p.settings.epochs,
    stylized: p.stylized !== false,
    input: null,
    output: null,
    message: null,
    live: [],
    chunks: chunkCells(p),
    failed: failedOf(p),
    skipped: { count: skipped.count, ranges: formatRanges(skipped) },
    frames: [],
    segments: [],
    video: null,
  };
}

function bare(id: string, state: string, served: boolean): RenderPage {
  return {
    id, state, served, phase: null, done: 0, total: null, etaSeconds: null, meanSecondsPerFrame: null, epochs: null, stylized: true,
    input: null, output: null, message: null, live: [], chunks: { cells: [], framesPerChunk: null, counts: {} },
    failed: { count: 0, ranges: '', groups: [] }, skipped: { count: 0, ranges: '' }, frames: [], segments: [], video: null,
  };
}

/** A closed render's ending, read once per run (it never changes). */
const endings = new Map<string, Ending>();

async function endingOf(handle: WorkflowHandle, runId: string): Promise<Ending> {
  const known = endings.get(runId);
  if (known) return known;
  const ending = await settle(handle.result());
  endings.set(runId, ending);
  return ending;
}

/** An interrupted render's progress, read from its history once per history length (nothing adds to it until it is resumed). */
const interrupted = new Map<string, Awaited<ReturnType<typeof interruptedProgress>>>();

async function interruptedOf(handle: WorkflowHandle, key: string) {
  const known = interrupted.get(key);
  if (known) return known;
  const p = await interruptedProgress(handle);
  interrupted.set(key, p);
  return p;
}

function fromEnding(id: string, ending: Ending): { page: RenderPage; renderDir?: string } {
  if (ending.state === 'done') {
    const page = { ...fromProgress(id, 'done', false, ending.result), output: ending.result.output };
    return { page, renderDir: ending.result.renderDir };
  }
  const state = ending.state;
  const page = ending.state === 'cancelled' && ending.progress ? fromProgress(id, state, false, ending.progress) : bare(id, state, false);
  return { page: { ...page, message: ending.message }, renderDir: ending.state === 'cancelled' ? ending.progress?.renderDir : undefined };
}

/** The page's data for render `id`; `fileUrl` names the files it links (thumbnails, segments, the video). */
export async function renderPage(
  client: Client,
  served: boolean,
  id: string,
  workDir: string,
  views: FrameViews,
  fileUrl: (id: string, kind: 'thumb' | 'segment' | 'video', name: string) => string,
): Promise<{ page: RenderPage; renderDir: string; video?: string }> {
  const handle = client.workflow.getHandle(id);
  const description = await handle.describe();
  const status = description.status.name;
  let page: RenderPage;
  let renderDir: string | undefined;
  if (status === 'RUNNING' && served) {
    const snap = await readSnapshot(handle);
    page = fromProgress(id, liveState(snap.progress), true, snap.progress);
    page.live = snap.live.map((b) => ({ frame: b.frame, step: b.step, totalSteps: b.totalSteps }));
    renderDir = snap.progress.renderDir;
  } else if (status === 'RUNNING') {
    const p = await interruptedOf(handle, `${description.runId}/${description.historyLength}`);
    page = { ...bare(id, 'interrupted', false), done: p.done, total: p.total, input: p.input ?? null, output: p.output ?? null };
    renderDir = p.renderDir;
  } else {
    ({ page, renderDir } = fromEnding(id, await endingOf(handle, description.runId)));
  }
  const memo = description.memo ?? {};
  page.input ??= typeof memo.input === 'string' ? memo.input : null;
  page.output ??= typeof memo.output === 'string' ? memo.output : null;
  // Only files of the work directory are served, whatever a workflow's input names.
  const dir = renderDir && inside(workDir, renderDir) ? renderDir : join(workDir, 'renders', id);
  page.frames = (await views.latest(dir, LATEST_FRAMES)).map((v) => {
    const { thumb, original } = thumbnailPaths(framePath('', v.frame));
    return { ...v, thumb: fileUrl(id, 'thumb', thumb), ...(v.stylized ? { original: fileUrl(id, 'thumb', original) } : {}) };
  });
  page.segments = (await segmentsOf(dir)).map((s) => ({ ...s, url: fileUrl(id, 'segment', String(s.index + 1)) }));
  const video = page.state === 'done' && page.output && existsSync(page.output) ? page.output : undefined;
  if (video) page.video = fileUrl(id, 'video', 'output');
  return { page, renderDir: dir, video };
}

/** The list page's rows: `list`'s, with renders nobody serves shown as interrupted. */
export async function renderList(client: Client, served: boolean): Promise<ListedRender[]> {
  const rows = await listRenders(client, LIST_LIMIT);
  return served ? rows : rows.map((r) => (r.state === 'running' ? { ...r, state: 'interrupted' } : r));
}
