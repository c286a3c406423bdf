import { existsSync } from 'node:fs';
import { defaultCacheDir } from '../common/cache-dir';
import { md5File } from '../common/hash';
import { WeightsError } from './weights';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The file `tf.keras.applications.VGG19(weights='imagenet', include_top=False)` loads. */
export const VGG19_NOTOP = Object.freeze({
  fileName: 'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
  url: 'https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5',
  /** Keras publishes this md5 next to the URL (keras/applications/vgg19.py). */
  md5: '253f8cb515780f3b799900260a226db6',
});

export interface EnsureWeightsOptions {
  /** An explicit file (--weights): used as is; its structure is checked when it is read. */
  weightsPath?: string;
  cacheDir?: string;
  fetchImpl?: typeof fetch;
  log?: (line: string) => void;
  /** Which file to fetch; the official notop weights unless a test substitutes another. */
  source?: { fileName: string; url: string; md5: string };
}

export interface WeightsFile {
  path: string;
  /** Its md5: identifies the weights in every frame's fingerprint. */
  md5: string;
}

/**
 * The VGG19 weights to use, downloading and verifying the official file into the cache on first
 * use. The download lands under a temporary name and is renamed only once its hash matches. Each
 * file is hashed once: the check against the published md5 doubles as its identity.
 */
export async function ensureVggWeights(opts: EnsureWeightsOptions = {}): Promise<WeightsFile> {
  if (opts.weightsPath) {
    if (!existsSync(opts.weightsPath)) {
      throw new WeightsError(`{weights} "${opts.weightsPath}" does not exist; give the path of ${VGG19_NOTOP.fileName}`);
    }
    return { path: opts.weightsPath, md5: await md5File(opts.weightsPath) };
  }
  const source = opts.source ?? VGG19_NOTOP;
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const target = join(cacheDir, source.fileName);
  if (existsSync(target)) {
    const actual = await md5File(target);
    if (actual === source.md5) return { path: target, md5: actual };
    opts.log?.(`cached ${target} has md5 ${actual}, expected ${source.md5}; downloading it again`);
  }
  await mkdir(cacheDir, { recursive: true });
  const temp = `${target}.${process.pid}.download`;
  opts.log?.(`downloading VGG19 weights from ${source.url}`);
  try {
    const response = await (opts.fetchImpl ?? fetch)(source.url);
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
    await writeFile(temp, Buffer.from(await response.arrayBuffer()));
    const actual = await md5File(temp);
    if (actual !== source.md5) throw new Error(`downloaded file has md5 ${actual}, expected ${source.md5}`);
    await rename(temp, target);
    return { path: target, md5: actual };
  } catch (err) {
    await rm(temp, { force: true });
    throw new Error(
      `could not get the VGG19 weights: ${(err as Error).message}. Offline? Download ${source.url} ` +
        `on a machine with internet and put it at ${target} (or pass {weights} PATH).`,
    );
  }
}
