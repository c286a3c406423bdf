/**
 * The one place that imports tfjs. Everything in the engine takes tensors from here so that
 * the native backends (which re-export the same @tensorflow/tfjs instance) and wasm/cpu agree.
 */
import * as tf from '@tensorflow/tfjs';
export { tf };
