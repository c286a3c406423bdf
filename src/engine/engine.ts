import type { RgbImage } from '../media/types';
import { DEFAULT_SETTINGS, InvalidSettingsError, type SettingProblem } from './settings';
import { selectBackend, type BackendChoice, type BackendSelection } from './backend';
import { deepestLayer, minimumSideFor } from './vgg19-architecture';
import {
  computeBlendedStyleTargets,
  computeStyleTargets,
  measureStyleContent,
  stylize,
  type StyleContentRequest,
  type StyleTargets,
  type StylizeRequest,
  type StylizeResult,
  type WeightedStyle,
} from './stylize';
import { tf } from './tf';
import { StepGraph } from './step-graph';
import { Vgg19 } from './vgg19';
import { PACKAGES } from '../native/libtensorflow';
import { readVggWeights } from './weights';

export interface EngineOptions {
  weightsPath: string;
  backend?: BackendChoice | 'auto';
  /** How many styles' targets to keep; a worker usually serves one render at a time. */
  styleCacheSize?: number;
  /** Run one small optimisation step at start-up (default true); see warmUp(). */
  warmUp?: boolean;
  /**
   * On the native backends, run each step as one TensorFlow graph (default true; STARRY_STEP_GRAPH=0
   * turns it off). Ignored elsewhere.
   */
  stepGraph?: boolean;
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
    /** The whole step as one TensorFlow graph, where the backend is native. */
    private readonly graph: StepGraph | undefined,
  ) {}

  /** How each optimisation step runs: one TensorFlow graph, or eager tfjs ops. */
  get stepMode(): 'graph' | 'eager' {
    return this.graph ? 'graph' : 'eager';
  }

  static async create(opts: EngineOptions): Promise<StyleEngine> {
    const backend = await selectBackend(opts.backend ?? 'auto');
    const model = Vgg19.fromWeights(await readVggWeights(opts.weightsPath));
    const native = backend.name === 'node' || backend.name === 'node-gpu';
    const wantGraph = opts.stepGraph ?? process.env.STARRY_STEP_GRAPH !== '0';
    const graph = native && wantGraph ? await StepGraph.load(backend.name === 'node' ? PACKAGES.cpu : PACKAGES.gpu) : undefined;
    const engine = new StyleEngine(backend, model, opts.weightsPath, opts.styleCacheSize ?? 2, graph);
    if (opts.warmUp ?? true) await engine.warmUp();
    return engine;
  }

  /**
   * One optimisation step (forward, gradient, Adam) on a small image, so that the backend's
   * one-time set-up — wasm compilation, TensorFlow's thread pools and kernel registration — is paid
   * at worker start rather than inside the first frame's heartbeat window. Leaves no tensors.
   */
  async warmUp(): Promise<void> {
    const side = minimumSideFor(DEFAULT_SETTINGS.styleLayers) * 2;
    const image: RgbImage = { width: side, height: side, data: new Float32Array(side * side * 3).fill(0.5) };
    const targets = computeStyleTargets(this.model, image, DEFAULT_SETTINGS.styleLayers);
    try {
      await stylize(this.model, { content: image, targets, settings: { ...DEFAULT_SETTINGS, epochs: 1, stepsPerEpoch: 1 }, graph: this.graph });
    } finally {
      targets.dispose();
    }
  }

  /**
   * Style targets for `key`, which must identify every style image, the size each is read at, its
   * blend weight and the layers. `loadStyle` gives one image, or several weighted ones to blend.
   */
  async styleTargets(
    key: string,
    layers: readonly string[],
    loadStyle: () => Promise<RgbImage | readonly WeightedStyle[]>,
  ): Promise<StyleTargets> {
    const cached = this.styleCache.get(key);
    if (cached) {
      // Map order doubles as recency for the eviction below.
      this.styleCache.delete(key);
      this.styleCache.set(key, cached);
      return cached;
    }
    const loaded = await loadStyle();
    const styles: readonly WeightedStyle[] = 'data' in loaded ? [{ image: loaded, weight: 1 }] : loaded;
    styles.forEach(({ image }, i) => checkImageSize(image, layers, styles.length === 1 ? 'style image' : `style image ${i + 1}`));
    const targets = computeBlendedStyleTargets(this.model, styles, layers);
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
    return stylize(this.model, { ...req, graph: this.graph });
  }

  /** The seed's style + content + tv of an image as a frame of `content` (stylize.ts measureStyleContent). */
  measureStyleContent(req: StyleContentRequest): number {
    checkImageSize(req.content, [...req.settings.contentLayers, ...req.targets.layers], 'frame');
    return measureStyleContent(this.model, req);
  }

  /** Live tensors on the backend; constant between frames when nothing leaks. */
  tensorCount(): number {
    return tf.memory().numTensors;
  }

  dispose(): void {
    for (const t of this.styleCache.values()) t.dispose();
    this.styleCache.clear();
    this.model.dispose();
    this.graph?.dispose();
  }
}

function checkImageSize(image: RgbImage, layers: readonly string[], what: string): void {
  const min = minimumSideFor(layers);
  if (Math.min(image.width, image.height) < min) {
    const problem: SettingProblem = {
      key: 'size',
      message: `${what} is ${image.width}×${image.height}, but VGG19 layers down to ${deepestLayer(layers)} need at least ${min} pixels on each side; raise {size}${what.startsWith('style') ? ' or {styleScale}' : ''}`,
    };
    throw new InvalidSettingsError(problem.message, problem);
  }
}
