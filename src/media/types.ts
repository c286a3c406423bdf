/** An exact frame rate, e.g. 30000/1001 for NTSC. Never store it as a float. */
export interface FrameRate {
  num: number;
  den: number;
}

export interface VideoInfo {
  /** Container format name(s) as ffprobe reports them, e.g. "mov,mp4,m4a,3gp,3g2,mj2". */
  formatName: string;
  durationSeconds: number;
  /** Number of video frames (from the stream header, or counted when the header lacks it). */
  frameCount: number;
  frameRate: FrameRate;
  /** Coded size of the video stream. */
  width: number;
  height: number;
  /** Rotation from the display matrix / rotate tag, in degrees, normalised to 0, 90, 180 or 270. */
  rotation: number;
  /** Size as shown to a viewer (width/height swapped for 90 and 270 degree rotation). */
  displayWidth: number;
  displayHeight: number;
  hasAudio: boolean;
  /** Codec name of the first audio stream, e.g. "aac"; undefined when there is no audio. */
  audioCodec?: string;
  /** Every audio and subtitle stream, in file order: what assembly carries over. */
  sideStreams?: SideStream[];
  /**
   * How long after the file's earliest stream (usually the audio) the first video frame starts,
   * in seconds; 0 when the video starts first. Assembly needs it to keep the sound in sync.
   */
  videoStartSeconds?: number;
}

/** An RGB image with channel values in [0, 1], row-major, interleaved (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Float32Array;
}

/** An audio or subtitle stream of the source. */
export interface SideStream {
  /** Index of the stream in the source file (as in -map 0:INDEX). */
  index: number;
  type: 'audio' | 'subtitle';
  codec: string;
  language?: string;
}

/** What assembly did with one audio or subtitle stream of the source. */
export interface StreamReport extends SideStream {
  action: 'copied' | 're-encoded' | 'dropped';
  /** The codec it was re-encoded to. */
  to?: string;
  /** Why it was re-encoded or dropped. */
  reason?: string;
}
