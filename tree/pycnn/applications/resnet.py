"""ResNet50 with Keras's architecture, layer names and parameter counts.

Weights: ``None`` (random init) or a path to a Keras ``.weights.h5`` /
``.h5`` file; pycnn never downloads ('imagenet' needs a local file).
"""
import os

from pycnn import layers
from pycnn.layers.reshaping import ZeroPadding2D
from pycnn.models.functional import Model

BN_EPSILON = 1.001e-5


def _residual_block(x, filters, kernel_size=3, stride=1, conv_shortcut=True, name=None):
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON,
                                             name=name + "_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=name + "_1_bn")(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", name=name + "_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=name + "_2_bn")(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=name + "_3_bn")(x)
    x = layers.Add(name=name + "_add")([shortcut, x])
    return layers.Activation("relu", name=name + "_out")(x)


def _stack(x, filters, blocks, stride1=2, name=None):
    x = _residual_block(x, filters, stride=stride1, name=name + "_block1")
    for i in range(2, blocks + 1):
        x = _residual_block(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def _input_shape(input_shape, include_top):
    if input_shape is None:
        return (224, 224, 3) if include_top else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"ResNet50: `input_shape` must be (height, width, 3), got "
                         f"{input_shape}")
    for d in input_shape[:2]:
        if d is not None and d < 32:
            raise ValueError(f"ResNet50: input size must be at least 32x32; got "
                             f"`input_shape={input_shape}`")
    return input_shape


def ResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name="resnet50"):
    """Keras's ``keras.applications.ResNet50`` (25,636,712 parameters with the
    top, 23,587,712 without)."""
    if weights == "imagenet":
        raise ValueError(
            "ResNet50: pycnn does not download weights. Pass weights=<path to a "
            "resnet50 .weights.h5 file> (e.g. saved from Keras with "
            "model.save_weights) or weights=None.")
    if weights is not None and not os.path.exists(weights):
        raise FileNotFoundError(f"ResNet50: weights file not found: {weights}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"ResNet50: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if input_tensor is not None:
        inputs = input_tensor
    else:
        inputs = layers.Input(shape=_input_shape(input_shape, include_top))
    x = ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stack(x, 64, 3, stride1=1, name="conv2")
    x = _stack(x, 128, 4, name="conv3")
    x = _stack(x, 256, 6, name="conv4")
    x = _stack(x, 512, 3, name="conv5")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = Model(inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
