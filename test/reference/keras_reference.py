#!/usr/bin/env python3
"""Golden reference numbers for the starry-render tfjs style-transfer engine.

Runs the TensorFlow "Neural style transfer" tutorial algorithm (Gatys et al.)
with real Keras/TensorFlow on a *narrow* VGG19-shaped network whose weights
come from a closed formula (ImageNet weights cannot be downloaded in CI, and
the tfjs tests must be able to rebuild the very same network), then writes
``test/reference/golden.json``.

This script is run by hand, never in CI: CI only reads the committed
golden.json.  See README.md next to this file.

Usage:
    pip install -r test/reference/requirements.txt
    python3 test/reference/keras_reference.py            # (re)writes golden.json
    python3 test/reference/keras_reference.py --check-h5 a.h5 b.h5
        # loads HDF5 weight files (e.g. written by test/helpers/tiny-vgg.ts)
        # with Keras' legacy HDF5 loader into the narrow VGG19 and checks that
        # every weight equals the formula, bit for bit.

All formulas below are mirrored exactly by test/helpers/tiny-vgg.ts:
values are computed in float64 (math.sin / math.cos / math.sqrt, evaluated
left to right as written) and then rounded to float32.
"""

import os

# CPU only, deterministic, no oneDNN graph rewrites; must be set before TF loads.
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

keras = tf.keras

tf.config.set_visible_devices([], "GPU")
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()
# Nothing below is random; the seed is set only so that enable_op_determinism
# has a defined global seed.
SEED = 0
tf.random.set_seed(SEED)

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN_PATH = os.path.join(HERE, "golden.json")

# ----------------------------------------------------------------------------
# Formulas (mirrored in test/helpers/tiny-vgg.ts)
# ----------------------------------------------------------------------------

BLOCK_CONVS = [2, 2, 4, 4, 4]  # convs per block, as in VGG19
NARROW_WIDTHS = [4, 6, 8, 8, 8]  # output channels per block (real VGG19: 64,128,256,512,512)

KERNEL_AMPLITUDE = 2.0
KERNEL_FREQUENCY = 0.91
KERNEL_LAYER_PHASE = 1.3
BIAS_OFFSET = 0.25
BIAS_AMPLITUDE = 0.05
BIAS_FREQUENCY = 0.5

FORMULAS = {
    "layer_order": "l = 0..15 over block1_conv1, block1_conv2, block2_conv1, block2_conv2, "
    "block3_conv1..4, block4_conv1..4, block5_conv1..4",
    "widths": "block1: 4, block2: 6, block3: 8, block4: 8, block5: 8; cin of block1_conv1 = 3; "
    "cin of every other conv = cout of the previous conv",
    "kernel": "kernel of layer l has shape [3,3,cin,cout] (Keras HWIO); element with flat C-order "
    "index i = float32(2.0 * sin(0.91*i + 1.3*l) / sqrt(9*cin)), computed in float64",
    "bias": "bias of layer l has shape [cout]; element j = float32(0.25 + 0.05 * cos(0.5*j + l)), "
    "computed in float64",
    "content_image": "shape [1,20,24,3]; element with flat C-order index i = "
    "float32(0.5 + 0.4*sin(0.3*i))",
    "style_image": "shape [1,18,16,3]; element with flat C-order index i = "
    "float32(0.5 + 0.45*cos(0.21*i + 0.5))",
    "preprocess_input": "first 12 elements of the content-image formula, shape [1,2,2,3]",
    "gram_input": "shape [1,2,3,4]; element i = float32(sin(0.7*i))",
}

CONTENT_SHAPE = (1, 20, 24, 3)
STYLE_SHAPE = (1, 18, 16, 3)

STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
CONTENT_LAYERS = ["block5_conv2"]

STYLE_WEIGHT = 1e-2
CONTENT_WEIGHT = 1e4
TV_WEIGHT = 30.0

ADAM_CONFIG = dict(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)  # beta_2 default 0.999


def layer_spec(widths=NARROW_WIDTHS):
    """[(l, name, cin, cout)] for the 16 convs."""
    spec = []
    cin = 3
    l = 0
    for b, n in enumerate(BLOCK_CONVS):
        for c in range(n):
            cout = widths[b]
            spec.append((l, f"block{b + 1}_conv{c + 1}", cin, cout))
            cin = cout
            l += 1
    return spec


def f32(values, shape):
    return np.asarray(values, dtype=np.float64).astype(np.float32).reshape(shape)


def kernel_formula(l, cin, cout):
    n = 9 * cin * cout
    vals = [
        KERNEL_AMPLITUDE * math.sin(KERNEL_FREQUENCY * i + KERNEL_LAYER_PHASE * l) / math.sqrt(9 * cin)
        for i in range(n)
    ]
    return f32(vals, (3, 3, cin, cout))


def bias_formula(l, cout):
    return f32([BIAS_OFFSET + BIAS_AMPLITUDE * math.cos(BIAS_FREQUENCY * j + l) for j in range(cout)], (cout,))


def content_image_formula(h, w):
    n = h * w * 3
    return f32([0.5 + 0.4 * math.sin(0.3 * i) for i in range(n)], (1, h, w, 3))


def style_image_formula(h, w):
    n = h * w * 3
    return f32([0.5 + 0.45 * math.cos(0.21 * i + 0.5) for i in range(n)], (1, h, w, 3))


# ----------------------------------------------------------------------------
# Model (tutorial code, narrow VGG19)
# ----------------------------------------------------------------------------


def build_vgg19_notop(widths=NARROW_WIDTHS):
    """VGG19 without top, Keras layer names, narrow widths, formula weights."""
    inp = keras.Input(shape=(None, None, 3), name="input_1")
    x = inp
    for b, n in enumerate(BLOCK_CONVS):
        for c in range(n):
            x = keras.layers.Conv2D(
                widths[b], (3, 3), activation="relu", padding="same", name=f"block{b + 1}_conv{c + 1}"
            )(x)
        x = keras.layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{b + 1}_pool")(x)
    model = keras.Model(inp, x, name="vgg19")
    model.trainable = False
    return model


def set_formula_weights(model, widths=NARROW_WIDTHS):
    for l, name, cin, cout in layer_spec(widths):
        model.get_layer(name).set_weights([kernel_formula(l, cin, cout), bias_formula(l, cout)])


def vgg_layers(vgg, layer_names):
    outputs = [vgg.get_layer(name).output for name in layer_names]
    return keras.Model([vgg.input], outputs)


def gram_matrix(input_tensor):
    result = tf.linalg.einsum("bijc,bijd->bcd", input_tensor, input_tensor)
    input_shape = tf.shape(input_tensor)
    num_locations = tf.cast(input_shape[1] * input_shape[2], tf.float32)
    return result / num_locations


class StyleContentModel(keras.models.Model):
    def __init__(self, vgg, style_layers, content_layers):
        super().__init__()
        self.vgg = vgg_layers(vgg, style_layers + content_layers)
        self.style_layers = style_layers
        self.content_layers = content_layers
        self.num_style_layers = len(style_layers)
        self.vgg.trainable = False

    def call(self, inputs):
        "Expects float input in [0,1]"
        inputs = inputs * 255.0
        preprocessed_input = keras.applications.vgg19.preprocess_input(inputs)
        outputs = self.vgg(preprocessed_input)
        style_outputs, content_outputs = (
            outputs[: self.num_style_layers],
            outputs[self.num_style_layers :],
        )
        style_outputs = [gram_matrix(style_output) for style_output in style_outputs]
        content_dict = {n: v for n, v in zip(self.content_layers, content_outputs)}
        style_dict = {n: v for n, v in zip(self.style_layers, style_outputs)}
        return {"content": content_dict, "style": style_dict}


def style_content_loss_parts(outputs, style_targets, content_targets):
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
    return style_loss, content_loss


def clip_0_1(image):
    return tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0)


# ----------------------------------------------------------------------------
# JSON helpers
# ----------------------------------------------------------------------------


def num(x):
    """float32 scalar -> Python float (exact value of the float32, shortest repr)."""
    a = np.asarray(x, dtype=np.float32)
    assert a.size == 1, a.shape
    return float(a.reshape(()))


def tensor(x):
    a = np.asarray(x, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


# ----------------------------------------------------------------------------
# Golden data
# ----------------------------------------------------------------------------


def adam_reference_numpy(var0, grad, steps):
    """Re-derivation of Keras 3 Adam.update_step in float32 (documents the formula)."""
    lr = np.float32(ADAM_CONFIG["learning_rate"])
    b1 = np.float32(ADAM_CONFIG["beta_1"])
    b2 = np.float32(0.999)
    eps = np.float32(ADAM_CONFIG["epsilon"])
    one_minus_b1 = np.float32(1.0 - ADAM_CONFIG["beta_1"])
    one_minus_b2 = np.float32(1.0 - 0.999)
    var = var0.copy()
    m = np.zeros_like(var)
    v = np.zeros_like(var)
    out = []
    for t in range(1, steps + 1):
        tt = np.float32(t)
        alpha = lr * np.sqrt(np.float32(1) - b2**tt) / (np.float32(1) - b1**tt)
        m = m + (grad - m) * one_minus_b1
        v = v + (grad * grad - v) * one_minus_b2
        var = var - (m * alpha) / (np.sqrt(v) + eps)
        out.append(var.astype(np.float32))
    return out


def golden():
    content_image = content_image_formula(*CONTENT_SHAPE[1:3])
    style_image = style_image_formula(*STYLE_SHAPE[1:3])

    vgg = build_vgg19_notop()
    set_formula_weights(vgg)

    weights = []
    for l, name, cin, cout in layer_spec():
        k, b = vgg.get_layer(name).get_weights()
        assert np.array_equal(k, kernel_formula(l, cin, cout)) and np.array_equal(b, bias_formula(l, cout))
        weights.append({"l": l, "name": name, "cin": cin, "cout": cout, "kernel": tensor(k), "bias": tensor(b)})

    # --- preprocess -----------------------------------------------------------
    pre_in = content_image.ravel()[:12].reshape(1, 2, 2, 3)
    pre_out = keras.applications.vgg19.preprocess_input(tf.constant(pre_in) * 255.0)

    # --- gram -----------------------------------------------------------------
    gram_in = f32([math.sin(0.7 * i) for i in range(24)], (1, 2, 3, 4))
    gram_out = gram_matrix(tf.constant(gram_in))

    # --- adam -----------------------------------------------------------------
    adam_var0 = np.array([0.1, 0.5, 0.9, 0.3, 0.7], dtype=np.float32)
    adam_grad = np.array([0.5, -1.0, 2.0, 0.0, -0.25], dtype=np.float32)
    adam_v = tf.Variable(adam_var0)
    adam_opt = keras.optimizers.Adam(**ADAM_CONFIG)
    adam_after = []
    for _ in range(3):
        adam_opt.apply_gradients([(tf.constant(adam_grad), adam_v)])
        adam_after.append(adam_v.numpy().copy())
    adam_np = adam_reference_numpy(adam_var0, adam_grad, 3)
    for a, b in zip(adam_after, adam_np):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    # What tf.train.adam in tfjs would do with the same hyper-parameters (epsilon
    # added to sqrt(v_hat) instead of sqrt(v)); recorded only as a warning sign.
    tfjs_style = []
    var = adam_var0.astype(np.float64)
    m = np.zeros(5)
    v = np.zeros(5)
    for t in range(1, 4):
        m = 0.99 * m + 0.01 * adam_grad
        v = 0.999 * v + 0.001 * adam_grad.astype(np.float64) ** 2
        var = var - 0.02 * (m / (1 - 0.99**t)) / (np.sqrt(v / (1 - 0.999**t)) + 0.1)
        tfjs_style.append(var.astype(np.float32))

    # --- model, targets, features ---------------------------------------------
    extractor = StyleContentModel(vgg, STYLE_LAYERS, CONTENT_LAYERS)
    style_targets = extractor(tf.constant(style_image))["style"]
    content_outputs_at_content = extractor(tf.constant(content_image))
    content_targets = content_outputs_at_content["content"]

    feat_model = vgg_layers(vgg, ["block1_conv1", "block5_conv2"])
    pre_content = keras.applications.vgg19.preprocess_input(tf.constant(content_image) * 255.0)
    b1c1, b5c2 = feat_model(pre_content)
    assert np.array_equal(b5c2.numpy(), content_targets["block5_conv2"].numpy())
    b5c2_np = b5c2.numpy()
    if not (b5c2_np > 0).any():
        raise SystemExit("block5_conv2 features are all zero: weight formula is degenerate")

    all_layers = [name for _, name, _, _ in layer_spec()]
    all_feats = vgg_layers(vgg, all_layers)(pre_content)
    pre_style = keras.applications.vgg19.preprocess_input(tf.constant(style_image) * 255.0)
    all_feats_style = vgg_layers(vgg, all_layers)(pre_style)
    layer_stats = {}
    for name, fc, fs in zip(all_layers, all_feats, all_feats_style):
        fc = fc.numpy()
        fs = fs.numpy()
        layer_stats[name] = {
            "content_shape": list(fc.shape),
            "content_mean": num(fc.mean()),
            "content_max": num(fc.max()),
            "content_fraction_positive": float((fc > 0).mean()),
            "style_shape": list(fs.shape),
            "style_mean": num(fs.mean()),
            "style_max": num(fs.max()),
        }

    # --- loss at the initial image ----------------------------------------------
    s0, c0 = style_content_loss_parts(content_outputs_at_content, style_targets, content_targets)
    loss0 = {"style": num(s0), "content": num(c0), "total": num(s0 + c0)}

    # --- train steps -----------------------------------------------------------
    def run_steps(n_steps, tv_weight):
        image = tf.Variable(content_image)
        opt = keras.optimizers.Adam(**ADAM_CONFIG)
        rec = {"loss": [], "style": [], "content": [], "tv": [], "images": [], "grads": []}
        for _ in range(n_steps):
            with tf.GradientTape() as tape:
                outputs = extractor(image)
                s, c = style_content_loss_parts(outputs, style_targets, content_targets)
                loss = s + c
                tv = tf.image.total_variation(image)  # shape [1]
                if tv_weight:
                    loss += tv_weight * tv
            grad = tape.gradient(loss, image)
            opt.apply_gradients([(grad, image)])
            image.assign(clip_0_1(image))
            rec["loss"].append(num(loss))
            rec["style"].append(num(s))
            rec["content"].append(num(c))
            rec["tv"].append(num(tv))
            rec["grads"].append(grad.numpy().copy())
            rec["images"].append(image.numpy().copy())
        s, c = style_content_loss_parts(extractor(image), style_targets, content_targets)
        tv = tf.image.total_variation(image)
        rec["final"] = {
            "loss": num(s + c + tv_weight * tv if tv_weight else s + c),
            "style": num(s),
            "content": num(c),
            "total_variation": num(tv),
        }
        return rec

    r0 = run_steps(3, 0.0)
    r30 = run_steps(1, TV_WEIGHT)
    assert r0["loss"][0] == loss0["total"], (r0["loss"][0], loss0)

    data = {
        "metadata": {
            "description": "Golden values from real Keras/TensorFlow for the tfjs style-transfer engine "
            "(TF neural style transfer tutorial on a narrow, formula-weighted VGG19). "
            "Generated by test/reference/keras_reference.py; see test/reference/README.md.",
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "numpy_version": np.__version__,
            "python_version": platform.python_version(),
            "device": "CPU only (CUDA_VISIBLE_DEVICES=-1, TF_ENABLE_ONEDNN_OPTS=0, 1 thread, "
            "tf.config.experimental.enable_op_determinism())",
            "execution": "eager (no tf.function)",
            "seeds": {"tf.random.set_seed": SEED, "note": "nothing is random: all inputs and weights come from formulas"},
            "formulas": FORMULAS,
            "tensor_encoding": "{shape, data}: data is the flat C-order (row-major, NHWC / HWIO) list of "
            "float32 values, each written as the exact double value of the float32",
            "model": {
                "architecture": "VGG19 without top: block1 2 convs, block2 2 convs, block3-5 4 convs each; "
                "Conv2D 3x3 same padding relu; MaxPooling2D 2x2 stride 2 valid after blocks 1-4 "
                "(block5_pool unused)",
                "widths": NARROW_WIDTHS,
                "style_layers": STYLE_LAYERS,
                "content_layers": CONTENT_LAYERS,
                "input": "image in [0,1] NHWC -> image*255 -> keras.applications.vgg19.preprocess_input "
                "(caffe: RGB->BGR, subtract [103.939,116.779,123.68] in BGR order)",
                "gram": "einsum('bijc,bijd->bcd', x, x) / (H*W)",
                "loss": "style_weight/num_style_layers * sum_l mean((G_l-T_l)^2) + "
                "content_weight/num_content_layers * sum mean((F-P)^2) [+ tv_weight * "
                "tf.image.total_variation(image)]",
                "style_weight": STYLE_WEIGHT,
                "content_weight": CONTENT_WEIGHT,
                "tv_weight_variant": TV_WEIGHT,
            },
            "optimizer": {
                "class": "keras.optimizers.Adam",
                **ADAM_CONFIG,
                "beta_2": 0.999,
                "update": "t = step (1-based); alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t); "
                "m += (g-m)*(1-beta_1); v += (g^2-v)*(1-beta_2); var -= m*alpha/(sqrt(v)+epsilon)  "
                "[epsilon is added to sqrt(v), NOT to sqrt(v_hat) as in tfjs tf.train.adam]",
            },
            "train_step": "GradientTape on loss w.r.t. the image tf.Variable (initialised from the content "
            "image), opt.apply_gradients, image.assign(clip_by_value(image, 0, 1)); a fresh "
            "optimizer for each run",
        },
        "weights": weights,
        "layer_stats": layer_stats,
        "preprocess": {"input": tensor(pre_in), "output": tensor(pre_out)},
        "gram": {"input": tensor(gram_in), "output": tensor(gram_out)},
        "adam": {
            "initial": [float(x) for x in adam_var0],
            "grad": [float(x) for x in adam_grad],
            "after_step": [[float(x) for x in a] for a in adam_after],
            "tfjs_tf_train_adam_would_give_instead": [[float(x) for x in a] for a in tfjs_style],
        },
        "features": {
            "content_image": tensor(content_image),
            "style_image": tensor(style_image),
            "content_block1_conv1": tensor(b1c1),
            "content_block5_conv2": tensor(b5c2),
            "style_grams": {name: tensor(style_targets[name]) for name in STYLE_LAYERS},
            "content_grams": {
                name: tensor(content_outputs_at_content["style"][name]) for name in STYLE_LAYERS
            },
        },
        "loss": loss0,
        "steps": {
            "tv_weight_0": {
                "loss_before_step": r0["loss"],
                "style_loss_before_step": r0["style"],
                "content_loss_before_step": r0["content"],
                "total_variation_before_step": r0["tv"],
                "grad_step_1": tensor(r0["grads"][0]),
                "image_after_step_1": tensor(r0["images"][0]),
                "image_after_step_2": tensor(r0["images"][1]),
                "image_after_step_3": tensor(r0["images"][2]),
                "loss_after_step_3": r0["final"],
            },
            "tv_weight_30": {
                "tv_weight": TV_WEIGHT,
                "loss_before_step_1": r30["loss"][0],
                "style_loss_before_step_1": r30["style"][0],
                "content_loss_before_step_1": r30["content"][0],
                "total_variation_before_step_1": r30["tv"][0],
                "grad_step_1": tensor(r30["grads"][0]),
                "image_after_step_1": tensor(r30["images"][0]),
                "loss_after_step_1": r30["final"],
            },
        },
    }
    return data


def check_h5(paths):
    """Load HDF5 files with Keras' legacy (order-based) loader and compare to the formula."""
    from keras.src.legacy.saving import legacy_h5_format  # noqa: WPS433
    import h5py

    all_ok = True
    for path in paths:
        ok = True
        model = build_vgg19_notop()
        with h5py.File(path, "r") as f:
            print(f"{path}: layer_names={[n.decode() if hasattr(n, 'decode') else n for n in f.attrs['layer_names']]}")
            print(f"  attrs: backend={f.attrs.get('backend')!r} keras_version={f.attrs.get('keras_version')!r}")
            print(f"  block1_conv1 weight_names={f['block1_conv1'].attrs['weight_names']!r}")
            print(f"  input_1 weight_names={f['input_1'].attrs['weight_names']!r}")
            legacy_h5_format.load_weights_from_hdf5_group(f, model)
        # Also through the public API (dispatches to the same loader for *.h5).
        model2 = build_vgg19_notop()
        model2.load_weights(path)
        for l, name, cin, cout in layer_spec():
            for m in (model, model2):
                k, b = m.get_layer(name).get_weights()
                good = np.array_equal(k, kernel_formula(l, cin, cout)) and np.array_equal(b, bias_formula(l, cout))
                if not good:
                    ok = False
                    print(f"  MISMATCH in {name}")
        if ok:
            print(f"  OK: all 16 conv layers loaded by Keras {keras.__version__} equal the formula bit for bit")
        else:
            print(f"  FAILED: weights loaded by Keras {keras.__version__} differ from the formula")
        all_ok = all_ok and ok
    return all_ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=GOLDEN_PATH, help="output JSON path (default: golden.json next to this script)")
    parser.add_argument("--check-h5", nargs="+", metavar="H5", help="verify HDF5 weight files instead")
    args = parser.parse_args()
    if args.check_h5:
        sys.exit(0 if check_h5(args.check_h5) else 1)
    data = golden()
    with open(args.out, "w") as fh:
        json.dump(data, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    s = data["steps"]["tv_weight_0"]
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    print(f"TF {tf.__version__}, Keras {keras.__version__}")
    print(f"initial loss: style={data['loss']['style']!r} content={data['loss']['content']!r}")
    print(f"tv0 loss before steps 1..3: {s['loss_before_step']!r}")
    print(f"tv0 loss after step 3: {s['loss_after_step_3']!r}")
    print(f"tv30 loss before step 1: {data['steps']['tv_weight_30']['loss_before_step_1']!r}")
    for name, st in data["layer_stats"].items():
        print(f"  {name:13s} content {st['content_shape']} mean={st['content_mean']:.4g} max={st['content_max']:.4g} "
              f"pos={st['content_fraction_positive']:.2f} | style {st['style_shape']} mean={st['style_mean']:.4g}")


if __name__ == "__main__":
    main()
