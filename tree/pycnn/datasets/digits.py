"""Handwritten digits that ship with pycnn: the 1,797 8x8 images of the UCI
"Optical Recognition of Handwritten Digits" test set (CC BY 4.0, the copy
scikit-learn distributes as ``load_digits``), optionally upscaled to MNIST's
28x28 so MNIST networks run on them unchanged.
"""
import os

import numpy as np

_PATH = os.path.join(os.path.dirname(__file__), "digits.npz")


def _upscale_to_28(images):
    # 8x8 -> 24x24 by pixel repetition, then a 2-pixel border -> 28x28 (MNIST's
    # digits also sit in a 20x20 box centred in 28x28).
    big = np.repeat(np.repeat(images, 3, axis=1), 3, axis=2)
    return np.pad(big, ((0, 0), (2, 2), (2, 2)))


def load_data(image_size=28, test_split=0.2, seed=0):
    """Return ``(x_train, y_train), (x_test, y_test)`` like ``keras.datasets.mnist``.

    Images are uint8 in 0..255 of shape (n, image_size, image_size); labels uint8.
    ``image_size`` is 28 (MNIST-like) or 8 (original). The split is a fixed
    shuffle with ``seed``, so the held-out set is the same on every machine.
    """
    with np.load(_PATH) as data:
        images, labels = data["images"], data["labels"]
    images = (images.astype(np.float32) * (255.0 / 16.0)).round().astype(np.uint8)
    if image_size == 28:
        images = _upscale_to_28(images)
    elif image_size != 8:
        raise ValueError(f"image_size must be 8 or 28, got {image_size}")
    if not 0.0 < test_split < 1.0:
        raise ValueError(f"test_split must be in (0, 1), got {test_split}")
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = int(round(len(images) * test_split))
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])
