import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic';
import { renderPaths } from '../../common/render-paths';
import type { RenderRequest } from '../../workflows/contract';
import { framesKey } from './render-options';

/** In each render's directory: the key of the frames it may share with other renders. */
const KEY_FILE = 'render.json';

async function keyOf(dir: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(join(dir, KEY_FILE), 'utf8')) as { framesKey?: string }).framesKey;
  } catch {
    return undefined;
  }
}

/**
 * A render's directory is named by its id, which includes the output. Rendering the same video,
 * style and settings to another output still reuses every frame already stylized: before the
 * render starts, the stylized frames (image and fingerprint sidecar, as a pair) of every sibling
 * render with the same frames key — and of a directory named by that key, as renders were before —
 * are hard-linked into its own directory where it has none. The style activity checks each
 * frame's fingerprint, so a linked frame is used only if it was made with the same settings.
 * Returns how many frames were linked.
 */
export async function shareStylizedFrames(request: Pick<RenderRequest, 'input' | 'style' | 'styles' | 'settings' | 'renderDir'>): Promise<number> {
  // A client with --address on a machine without the shared work directory has nothing to share.
  if (!existsSync(dirname(dirname(request.renderDir)))) return 0;
  try {
    return await linkSharedFrames(request);
  } catch {
    return 0; // Sharing saves work; failing to share must never stop a render.
  }
}

async function linkSharedFrames(request: Pick<RenderRequest, 'input' | 'style' | 'styles' | 'settings' | 'renderDir'>): Promise<number> {
  const key = await framesKey(request, request.settings);
  await mkdir(request.renderDir, { recursive: true });
  if ((await keyOf(request.renderDir)) !== key) await writeFileAtomic(join(request.renderDir, KEY_FILE), JSON.stringify({ framesKey: key }));
  const renders = dirname(request.renderDir);
  const own = renderPaths(request.renderDir).styled;
  let linked = 0;
  for (const name of await readdir(renders).catch(() => [] as string[])) {
    const dir = join(renders, name);
    if (name === basename(request.renderDir) || (name !== key && (await keyOf(dir)) !== key)) continue;
    const theirs = renderPaths(dir).styled;
    const pngs = (await readdir(theirs).catch(() => [] as string[])).filter((f) => /^frame_\d+\.png$/.test(f));
    for (const png of pngs) {
      const sidecar = png.replace(/\.png$/, '.json');
      if (existsSync(join(own, png)) || existsSync(join(own, sidecar)) || !existsSync(join(theirs, sidecar))) continue;
      await mkdir(own, { recursive: true });
      for (const file of [png, sidecar]) await link(join(theirs, file), join(own, file)).catch(() => copyFile(join(theirs, file), join(own, file)));
      linked++;
    }
  }
  return linked;
}
