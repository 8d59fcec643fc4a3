"""Seed note 004 as the users write it: class folders read by
ImageDataGenerator.flow_from_directory with a validation split and
augmentation, feeding fit/evaluate/predict; a small CNN learns the shapes."""
import os

import numpy as np
import pytest

import pycnn
from pycnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from pycnn.models import Sequential
from pycnn.preprocessing.image import ImageDataGenerator

Image = pytest.importorskip("PIL.Image")


def draw(kind, size, rng):
    rows, cols = np.mgrid[:size, :size]
    cy, cx = rng.uniform(0.4, 0.6, 2) * size
    r = rng.uniform(0.2, 0.3) * size
    if kind == "circles":
        mask = (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r
    elif kind == "squares":
        mask = (np.abs(rows - cy) <= r) & (np.abs(cols - cx) <= r)
    else:  # horizontal bars
        mask = (np.abs(rows - cy) <= r / 3) & (np.abs(cols - cx) <= 1.3 * r)
    img = rng.integers(0, 50, (size, size, 3))
    img[mask] = rng.integers(170, 256, 3)
    return img.astype(np.uint8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset")
    rng = np.random.default_rng(0)
    for kind in ("bars", "circles", "squares"):
        os.makedirs(root / kind)
        for k in range(40):
            size = int(rng.integers(24, 48))
            ext = "png" if k % 2 else "jpg"
            Image.fromarray(draw(kind, size, rng)).save(root / kind / f"{k:03d}.{ext}")
    return str(root)


def test_seed_004_generators_train_a_cnn(dataset):
    pycnn.utils.set_random_seed(4)
    datagen = ImageDataGenerator(rescale=1 / 255.0, validation_split=0.25,
                                 horizontal_flip=True, width_shift_range=0.1,
                                 height_shift_range=0.1, rotation_range=10)
    train_datagen_flow = datagen.flow_from_directory(
        dataset, target_size=(32, 32), batch_size=16, class_mode='sparse',
        subset='training', seed=12345)
    val_datagen_flow = ImageDataGenerator(rescale=1 / 255.0, validation_split=0.25) \
        .flow_from_directory(dataset, target_size=(32, 32), batch_size=16,
                             class_mode='sparse', subset='validation', seed=12345)
    assert train_datagen_flow.class_indices == {"bars": 0, "circles": 1, "squares": 2}
    assert train_datagen_flow.samples == 90 and val_datagen_flow.samples == 30
    features, target = next(train_datagen_flow)
    assert features.shape == (16, 32, 32, 3) and target.shape == (16,)
    assert features.dtype == np.float32 and 0.0 <= features.min() and features.max() <= 1.0 + 1e-6

    model = Sequential([
        Conv2D(16, 3, activation="relu", input_shape=(32, 32, 3)), MaxPooling2D(),
        Conv2D(16, 3, activation="relu"), MaxPooling2D(),
        Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train_datagen_flow, validation_data=val_datagen_flow,
                        steps_per_epoch=len(train_datagen_flow),
                        validation_steps=len(val_datagen_flow), epochs=12, verbose=0)
    assert max(history.history["val_accuracy"][-3:]) >= 0.9, history.history
    loss, acc = model.evaluate(val_datagen_flow, verbose=0)
    assert acc >= 0.85
    predictions = model.predict(val_datagen_flow, verbose=0)
    assert predictions.shape == (30, 3)
