#!/usr/bin/env python3
"""The seed's TF2 optimisation step, timed: the reference column of `npm run bench -- --only compare`.

This is the seed script's formulation (the TensorFlow neural style transfer tutorial, Gatys et
al.) with its defaults, run on the same VGG19 weights file, frame and style image as our tfjs
engine in bench/step-child.ts:

* `tf.keras.applications.VGG19(include_top=False, weights=<the .h5 file>)`;
* content layer block5_conv2, style layers block1_conv1 .. block5_conv1;
* Gram = einsum('bijc,bijd->bcd') / (H*W); loss = 1e-2/5 * sum(style MSE) + 1e4/1 * content MSE;
* model input = `vgg19.preprocess_input(image * 255)` (caffe: RGB->BGR, minus the ImageNet mean);
* `tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)`;
* the step: GradientTape forward + gradient to the image, `apply_gradients`, clip to [0, 1],
  wrapped in `tf.function` (mode `graph`, as in the seed) or not (mode `eager`).

Frame: `size` x round(size*3/8)*2 (width x height), style image size x size, both from the
pattern in bench/steps.ts (0.5 + 0.45*sin(0.37*i + seed*(1 + i%7)), float64 then float32;
seed 1 for the frame, 2 for the style). Optimisation starts from the frame with a fresh Adam.

For each (mode, size) it runs steps+1 steps, syncing on the loss after each (as our engine
does), and prints one JSON line: the median of the `steps` step-to-step intervals after the
first (which pays for tracing / kernel set-up), the loss before each step, peak RSS.

    python3 bench/reference/seed_step.py --weights FILE --sizes 64,128 --modes graph,eager --steps 6

Needs only tensorflow (`python3 -m pip install tensorflow-cpu==2.21.0`). TensorFlow runs with its
defaults (oneDNN on, all cores), as the seed did; `--threads N` pins intra/inter-op threads.
"""

import argparse
import json
import math
import os
import platform
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
CONTENT_LAYERS = ["block5_conv2"]
STYLE_WEIGHT = 1e-2
CONTENT_WEIGHT = 1e4


def frame_height(size):
    # JavaScript Math.round (half up), as bench/steps.ts computes it.
    return int(math.floor(size * 3 / 4 / 2 + 0.5)) * 2


def pattern(np, width, height, seed):
    """bench/steps.ts `pattern`: flat NHWC, element i = float32(0.5 + 0.45*sin(0.37*i + seed*(1 + i%7)))."""
    i = np.arange(width * height * 3, dtype=np.float64)
    data = 0.5 + 0.45 * np.sin(0.37 * i + seed * (1 + (i % 7)))
    return data.astype(np.float32).reshape(1, height, width, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="VGG19 notop .h5 file (the one our engine loads)")
    parser.add_argument("--sizes", default="64", help="comma-separated long sides in pixels")
    parser.add_argument("--modes", default="graph,eager", help="graph (tf.function, as in the seed) and/or eager")
    parser.add_argument("--steps", type=int, default=6, help="timed steps (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=0, help="intra- and inter-op threads (0: TensorFlow's default)")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras = tf.keras

    t_load = time.perf_counter()
    vgg = keras.applications.VGG19(include_top=False, weights=args.weights)
    vgg.trainable = False
    load_ms = (time.perf_counter() - t_load) * 1000

    # --- the seed's model and loss (tutorial code) -------------------------------------------
    def vgg_layers(layer_names):
        outputs = [vgg.get_layer(name).output for name in layer_names]
        return keras.Model([vgg.input], outputs)

    def gram_matrix(input_tensor):
        result = tf.linalg.einsum("bijc,bijd->bcd", input_tensor, input_tensor)
        input_shape = tf.shape(input_tensor)
        num_locations = tf.cast(input_shape[1] * input_shape[2], tf.float32)
        return result / num_locations

    class StyleContentModel(keras.models.Model):
        def __init__(self, style_layers, content_layers):
            super().__init__()
            self.vgg = vgg_layers(style_layers + content_layers)
            self.style_layers = style_layers
            self.content_layers = content_layers
            self.num_style_layers = len(style_layers)
            self.vgg.trainable = False

        def call(self, inputs):
            "Expects float input in [0,1]"
            inputs = inputs * 255.0
            preprocessed_input = keras.applications.vgg19.preprocess_input(inputs)
            outputs = self.vgg(preprocessed_input)
            style_outputs, content_outputs = (outputs[: self.num_style_layers], outputs[self.num_style_layers :])
            style_outputs = [gram_matrix(style_output) for style_output in style_outputs]
            content_dict = {n: v for n, v in zip(self.content_layers, content_outputs)}
            style_dict = {n: v for n, v in zip(self.style_layers, style_outputs)}
            return {"content": content_dict, "style": style_dict}

    extractor = StyleContentModel(STYLE_LAYERS, CONTENT_LAYERS)

    def clip_0_1(image):
        return tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0)

    for size in [int(s) for s in args.sizes.split(",") if s]:
        width, height = size, frame_height(size)
        content_image = tf.constant(pattern(np, width, height, 1))
        style_image = tf.constant(pattern(np, size, size, 2))
        style_targets = extractor(style_image)["style"]
        content_targets = extractor(content_image)["content"]

        def style_content_loss(outputs):
            style_outputs = outputs["style"]
            content_outputs = outputs["content"]
            style_loss = tf.add_n(
                [tf.reduce_mean((style_outputs[name] - style_targets[name]) ** 2) for name in style_outputs.keys()]
            )
            style_loss *= STYLE_WEIGHT / len(STYLE_LAYERS)
            content_loss = tf.add_n(
                [tf.reduce_mean((content_outputs[name] - content_targets[name]) ** 2) for name in content_outputs.keys()]
            )
            content_loss *= CONTENT_WEIGHT / len(CONTENT_LAYERS)
            return style_loss + content_loss

        for mode in [m for m in args.modes.split(",") if m]:
            if mode not in ("graph", "eager"):
                raise SystemExit(f"unknown mode {mode!r}: use graph and/or eager")
            image = tf.Variable(content_image)
            opt = keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)
            opt.build([image])

            def train_step(image):
                with tf.GradientTape() as tape:
                    outputs = extractor(image)
                    loss = style_content_loss(outputs)
                grad = tape.gradient(loss, image)
                opt.apply_gradients([(grad, image)])
                image.assign(clip_0_1(image))
                return loss

            step = tf.function(train_step) if mode == "graph" else train_step
            stamps = []
            losses = []
            t_first = time.perf_counter()
            for _ in range(args.steps + 1):
                losses.append(float(step(image)))  # float() waits for the step, like our loss.data()
                stamps.append(time.perf_counter())
            intervals = [(b - a) * 1000 for a, b in zip(stamps, stamps[1:])]
            ms = sorted(intervals)[len(intervals) // 2]
            print(
                json.dumps(
                    {
                        "impl": "tf",
                        "mode": mode,
                        "size": size,
                        "width": width,
                        "height": height,
                        "steps": args.steps,
                        "msPerStep": ms,
                        "samplesMs": intervals,
                        "firstStepMs": (stamps[0] - t_first) * 1000,
                        "losses": losses,
                        "maxRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                        "weightsLoadMs": load_ms,
                        "tensorflow": tf.__version__,
                        "keras": keras.__version__,
                        "python": platform.python_version(),
                        "threads": args.threads or "default",
                        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
                        "cpus": os.cpu_count(),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
