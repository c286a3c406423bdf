"""Writes the seed's whole optimisation step as one TensorFlow graph (a SavedModel), for the
native backend: forward through VGG19, the style/content/total-variation loss, its gradient with
respect to the image, Keras' Adam update and the clip to [0, 1] in a single TF_SessionRun, where
tfjs would otherwise dispatch some 300 eager ops from JavaScript and TensorFlow could not fuse them.

    python3 build_step_model.py OUT_DIR

The graph holds no weights: kernels, biases, style Grams and content features are inputs, so one
model serves every weights file, style and frame size (H and W are dynamic). The formulas mirror
src/engine/losses.ts and adam.ts one for one; test/engine tests pin both paths to Keras' numbers.
Regenerate with TensorFlow 2.x (`npm run build-step-model`) after changing those formulas.

Two signatures: `serving_default`, the seed's step, and `temporal`, the same step with Ruder et
al.'s temporal term added to the loss (inputs `warped`, `mask` [1, H, W, 1] and `temporal_weight`;
losses.ts temporalLoss). A second signature rather than an extra input of the first, so the seed's
graph stays exactly what it was.
"""
import sys

import tensorflow as tf

# VGG19 up to block5_conv2, the deepest layer the default content and style layers use.
CONVS = ['block1_conv1', 'block1_conv2', 'block2_conv1', 'block2_conv2',
         'block3_conv1', 'block3_conv2', 'block3_conv3', 'block3_conv4',
         'block4_conv1', 'block4_conv2', 'block4_conv3', 'block4_conv4',
         'block5_conv1', 'block5_conv2']
POOL_AFTER = {'block1_conv2', 'block2_conv2', 'block3_conv4', 'block4_conv4'}
STYLE = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1']
CONTENT = 'block5_conv2'
MEAN_BGR = [103.939, 116.779, 123.68]


def features(image01, kernels, biases):
    x = tf.reverse(image01 * 255.0, axis=[-1]) - tf.constant(MEAN_BGR)
    out = {}
    for name, k, b in zip(CONVS, kernels, biases):
        x = tf.nn.relu(tf.nn.conv2d(x, k, 1, 'SAME') + b)
        out[name] = x
        if name in POOL_AFTER:
            x = tf.nn.max_pool2d(x, 2, 2, 'VALID')
    return out


def gram(f):
    shape = tf.shape(f)
    flat = tf.reshape(f, [shape[0], shape[1] * shape[2], shape[3]])
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(shape[1] * shape[2], tf.float32)


def total_variation(x):
    dy = x[:, 1:, :, :] - x[:, :-1, :, :]
    dx = x[:, :, 1:, :] - x[:, :, :-1, :]
    return tf.reduce_sum(tf.abs(dy)) + tf.reduce_sum(tf.abs(dx))


def loss(image, kernels, biases, grams, content, style_weight, content_weight, tv_weight):
    f = features(image, kernels, biases)
    style = tf.add_n([tf.reduce_mean(tf.square(gram(f[l]) - t)) for l, t in zip(STYLE, grams)])
    total = style * (style_weight / len(STYLE)) + tf.reduce_mean(tf.square(f[CONTENT] - content)) * content_weight
    return total + tv_weight * total_variation(image)


IMAGE = tf.TensorSpec([1, None, None, 3], tf.float32)
SCALAR = tf.TensorSpec([], tf.float32)
signature = dict(
    image=IMAGE, m=IMAGE, v=IMAGE,
    alpha=SCALAR, beta1=SCALAR, beta2=SCALAR, epsilon=SCALAR,
    style_weight=SCALAR, content_weight=SCALAR, tv_weight=SCALAR,
    content=tf.TensorSpec([1, None, None, None], tf.float32),
    **{f'gram_{i}': tf.TensorSpec([1, None, None], tf.float32) for i in range(len(STYLE))},
    **{f'kernel_{i}': tf.TensorSpec([3, 3, None, None], tf.float32) for i in range(len(CONVS))},
    **{f'bias_{i}': tf.TensorSpec([None], tf.float32) for i in range(len(CONVS))},
)


TEMPORAL_SIGNATURE = dict(
    signature,
    warped=IMAGE,
    mask=tf.TensorSpec([1, None, None, 1], tf.float32),
    temporal_weight=SCALAR,
)


def step(**a):
    return update(a, lambda image, value: value)


def temporal_step(**a):
    # Mean over pixels and channels of mask·(x − warped)², the mask broadcast over the channels.
    return update(a, lambda image, value: value + a['temporal_weight'] * tf.reduce_mean(a['mask'] * tf.square(image - a['warped'])))


def update(a, extra_loss):
    kernels = [a[f'kernel_{i}'] for i in range(len(CONVS))]
    biases = [a[f'bias_{i}'] for i in range(len(CONVS))]
    grams = [a[f'gram_{i}'] for i in range(len(STYLE))]
    image = a['image']
    with tf.GradientTape() as tape:
        tape.watch(image)
        value = loss(image, kernels, biases, grams, a['content'], a['style_weight'], a['content_weight'], a['tv_weight'])
        value = extra_loss(image, value)
    grad = tape.gradient(value, image)
    # Keras' Adam as in adam.ts: the bias correction is folded into alpha, ε is added to √v.
    m = a['m'] + (grad - a['m']) * (1 - a['beta1'])
    v = a['v'] + (tf.square(grad) - a['v']) * (1 - a['beta2'])
    updated = image - m * a['alpha'] / (tf.sqrt(v) + a['epsilon'])
    return {'loss': value, 'image': tf.clip_by_value(updated, 0.0, 1.0), 'm': m, 'v': v}


if __name__ == '__main__':
    module = tf.Module()
    # Keyword arguments, so the signature's inputs are named after them (image, m, kernel_0, …).
    module.step = tf.function(step).get_concrete_function(**signature)
    module.temporal_step = tf.function(temporal_step).get_concrete_function(**TEMPORAL_SIGNATURE)
    tf.saved_model.save(module, sys.argv[1], signatures={'serving_default': module.step, 'temporal': module.temporal_step})
