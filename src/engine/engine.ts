import type { RgbImage } from '../media/types';
import { InvalidSettingsError } from './settings';
import { selectBackend, type BackendChoice, type BackendSelection } from './backend';
import { deepestLayer, minimumSideFor } from './vgg19-architecture';
import { computeStyleTargets, stylize, type StyleTargets, type StylizeRequest, type StylizeResult } from './stylize';
import { tf } from './tf';
import { Vgg19 } from './vgg19';
import { readVggWeights } from './weights';

export interface EngineOptions {
  weightsPath: string;
  backend?: BackendChoice | 'auto';
  /** How many styles' targets to keep; a worker usually serves one render at a time. */
  styleCacheSize?: number;
}

/**
 * What a style worker holds for its whole life: one backend, one VGG19, and the style targets of
 * the styles it has seen recently.
 */
export class StyleEngine {
  private readonly styleCache = new Map<string, StyleTargets>();

  private constructor(
    readonly backend: BackendSelection,
    readonly model: Vgg19,
    readonly weightsPath: string,
    private readonly styleCacheSize: number,
  ) {}

  static async create(opts: EngineOptions): Promise<StyleEngine> {
    const backend = await selectBackend(opts.backend ?? 'auto');
    const model = Vgg19.fromWeights(await readVggWeights(opts.weightsPath));
    return new StyleEngine(backend, model, opts.weightsPath, opts.styleCacheSize ?? 2);
  }

  /** Style targets for `key` (which must identify the style image, its size and the layers). */
  async styleTargets(key: string, layers: readonly string[], loadStyle: () => Promise<RgbImage>): Promise<StyleTargets> {
    const cached = this.styleCache.get(key);
    if (cached) {
      // Map order doubles as recency for the eviction below.
      this.styleCache.delete(key);
      this.styleCache.set(key, cached);
      return cached;
    }
    const style = await loadStyle();
    checkImageSize(style, layers, 'style image');
    const targets = computeStyleTargets(this.model, style, layers);
    this.styleCache.set(key, targets);
    while (this.styleCache.size > this.styleCacheSize) {
      const [oldestKey, oldest] = this.styleCache.entries().next().value as [string, StyleTargets];
      this.styleCache.delete(oldestKey);
      oldest.dispose();
    }
    return targets;
  }

  async stylize(req: StylizeRequest): Promise<StylizeResult> {
    checkImageSize(req.content, [...req.settings.contentLayers, ...req.targets.layers], 'frame');
    return stylize(this.model, req);
  }

  /** Live tensors on the backend; constant between frames when nothing leaks. */
  tensorCount(): number {
    return tf.memory().numTensors;
  }

  dispose(): void {
    for (const t of this.styleCache.values()) t.dispose();
    this.styleCache.clear();
    this.model.dispose();
  }
}

function checkImageSize(image: RgbImage, layers: readonly string[], what: string): void {
  const min = minimumSideFor(layers);
  if (Math.min(image.width, image.height) < min) {
    throw new InvalidSettingsError(
      `${what} is ${image.width}×${image.height}, but VGG19 layers down to ${deepestLayer(layers)} need at least ${min} pixels on each side; raise --size`,
    );
  }
}
