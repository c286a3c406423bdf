/**
 * VGG19 without its classifier ("notop"), as Keras builds it: 3×3 same-padded ReLU convolutions
 * and 2×2 max pools. Only the order is fixed here; channel widths come from the weights file,
 * so a narrow VGG-shaped file (tests) runs through exactly the same code as ImageNet weights.
 */
export type VggLayer = { kind: 'conv'; name: string } | { kind: 'pool'; name: string };

const CONVS_PER_BLOCK = [2, 2, 4, 4, 4];

export const VGG19_LAYERS: readonly VggLayer[] = CONVS_PER_BLOCK.flatMap((convs, b) => {
  const block = `block${b + 1}`;
  const layers: VggLayer[] = [];
  for (let c = 1; c <= convs; c++) layers.push({ kind: 'conv', name: `${block}_conv${c}` });
  layers.push({ kind: 'pool', name: `${block}_pool` });
  return layers;
});

export const VGG19_CONV_NAMES: readonly string[] = VGG19_LAYERS.filter((l) => l.kind === 'conv').map((l) => l.name);

/** Index in VGG19_LAYERS; throws with the valid names when the layer is unknown. */
export function layerIndex(name: string): number {
  const i = VGG19_LAYERS.findIndex((l) => l.name === name);
  if (i < 0) throw new Error(`unknown VGG19 layer "${name}"; valid layers: ${VGG19_CONV_NAMES.join(', ')}`);
  return i;
}

export function deepestLayer(layers: readonly string[]): string {
  return VGG19_LAYERS[Math.max(...layers.map(layerIndex))].name;
}

/** Side of the smallest image whose features still reach `layer` (each pool halves, flooring). */
export function minimumSideFor(layers: readonly string[]): number {
  const deepest = Math.max(...layers.map(layerIndex));
  const pools = VGG19_LAYERS.slice(0, deepest).filter((l) => l.kind === 'pool').length;
  return 2 ** pools;
}
