import { MAX_SIZE, type SettingProblem } from './settings';
import { deepestLayer, minimumSideFor } from './vgg19-architecture';
import { scaledSize, smallestLongSideFor, type Size } from '../media/geometry';

/**
 * The frame size the `size` setting gives a picture of `width`×`height` (display size), and why VGG19 cannot
 * take it, if it cannot: each pooling layer down to the deepest one used halves the picture, so a
 * short side below 2^pools leaves nothing for that layer.
 */
export function frameSizeFor(
  width: number,
  height: number,
  size: number,
  layers: readonly string[],
): { frame: Size; problem?: SettingProblem } {
  const frame = scaledSize(width, height, size);
  const min = minimumSideFor(layers);
  if (Math.min(frame.width, frame.height) >= min) return { frame };
  const works = smallestLongSideFor(width, height, min, size, MAX_SIZE);
  const fix = works === undefined ? 'this picture is too narrow for any {size}' : `use {size} ${works} or more`;
  return {
    frame,
    problem: {
      key: 'size',
      message:
        `{size} ${size} makes ${frame.width}×${frame.height} frames of this ${width}×${height} video, but VGG19 down to ` +
        `${deepestLayer(layers)} needs at least ${min} pixels on each side; ${fix}`,
    },
  };
}
