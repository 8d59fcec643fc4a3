"""ResNet50 with Keras's architecture, and transfer learning on it as seed note
004 describes: frozen backbone, new head, then fine-tuning the last blocks."""
import numpy as np
import pytest

import pycnn
from pycnn.applications import ResNet50
from pycnn.applications.resnet50 import preprocess_input
from pycnn.layers import Dense, GlobalAveragePooling2D
from pycnn.models import Sequential


def test_resnet50_matches_keras_architecture():
    model = ResNet50(weights=None)
    assert model.name == "resnet50"
    assert len(model.layers) == 177
    assert model.count_params() == 25_636_712
    assert len(model.trainable_weights) == 214 and len(model.non_trainable_weights) == 106
    names = [l.name for l in model.layers]
    assert names[:8] == ["input_layer", "conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu",
                         "pool1_pad", "pool1_pool", "conv2_block1_1_conv"] or \
        names[1:8] == ["conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad",
                       "pool1_pool", "conv2_block1_1_conv"]
    assert names[-2:] == ["avg_pool", "predictions"]
    assert model.output.shape == (None, 1000)
    notop = ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    assert len(notop.layers) == 175
    assert notop.count_params() == 23_587_712
    assert notop.output.shape == (None, 2, 2, 2048)


def test_resnet50_forward_and_preprocess():
    model = ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    rgb = x.copy()
    y = preprocess_input(x)
    np.testing.assert_allclose(y[..., 0], rgb[..., 2] - 103.939, rtol=1e-6)
    np.testing.assert_allclose(y[..., 2], rgb[..., 0] - 123.68, rtol=1e-6)
    out = model.predict(y, verbose=0)
    assert out.shape == (2, 2048) and np.isfinite(out).all()


def test_resnet50_bad_arguments():
    with pytest.raises(ValueError, match="download"):
        ResNet50(weights="imagenet")
    with pytest.raises(FileNotFoundError):
        ResNet50(weights="/nonexistent/resnet.weights.h5")
    with pytest.raises(ValueError):
        ResNet50(weights=None, input_shape=(16, 16, 3))


def test_transfer_learning_frozen_backbone_then_fine_tune():
    pycnn.utils.set_random_seed(3)
    backbone = ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    backbone.trainable = False
    model = Sequential([backbone, GlobalAveragePooling2D(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    assert len(model.trainable_weights) == 2
    rng = np.random.default_rng(0)
    x = rng.random((6, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 3, 6)
    frozen_before = [w.numpy() for w in backbone.weights]
    head_before = model.layers[-1].get_weights()
    model.fit(x, y, epochs=2, batch_size=3, verbose=0)
    for a, w in zip(frozen_before, backbone.weights):
        np.testing.assert_array_equal(a, w.numpy())  # incl. BN moving stats (inference mode)
    assert not np.array_equal(head_before[0], model.layers[-1].get_weights()[0])

    # Fine-tune: unfreeze the last block (its BatchNormalization layers stay frozen).
    backbone.trainable = True
    for layer in backbone.layers:
        layer.trainable = layer.name.startswith("conv5_block3") and \
            "bn" not in layer.name
    model.compile(optimizer=pycnn.optimizers.Adam(1e-5),
                  loss="sparse_categorical_crossentropy")
    tuned = backbone.get_layer("conv5_block3_3_conv")
    early = backbone.get_layer("conv2_block1_1_conv")
    t0, e0 = tuned.get_weights()[0].copy(), early.get_weights()[0].copy()
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    assert not np.array_equal(t0, tuned.get_weights()[0])
    np.testing.assert_array_equal(e0, early.get_weights()[0])


def test_resnet50_summary_stays_readable(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    model = ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    model.summary()
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert "Connected to" in lines[2]
    # every layer appears once, by name, with its type
    for layer in model.layers:
        assert f"{layer.name} (" in text or layer.name in text
    assert "Total params: 23,587,712" in text
