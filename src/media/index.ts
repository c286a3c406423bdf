export type { FrameRate, RgbImage, VideoInfo } from './types';
export { MediaInputError } from './errors';
export { ffmpegFactory, ffmpegPaths, type FfmpegFactory, type FfmpegPaths } from './binaries';
export { parseFrameRate, probeVideo } from './probe';
export { displaySize, normaliseRotation, scaledSize, type Size } from './geometry';
export {
  extractFrames,
  framePath,
  framePattern,
  listFrameCount,
  readFrameTimestamps,
  FRAME_PATTERN,
  type ExtractOptions,
  type FrameTimestamps,
} from './frames';
export { assembleVideo, canCopyAudio, containerFor, isConstantRate, type AssembleOptions, type Container } from './assemble';
export { blendImages, imageSize, quantise, readImage, resizeImage, writePng, type ReadImageOptions } from './image';
export {
  checkFrameRange,
  encodeSegment,
  extractFrameRange,
  indexFrames,
  joinSegments,
  type EncodeSegmentOptions,
  type ExtractRangeOptions,
  type IndexOptions,
  type JoinOptions,
} from './chunks';
export { removeThumbnails, thumbnailPaths, writeThumbnail, THUMB_LONG_SIDE, type FrameView } from './thumbnail';
