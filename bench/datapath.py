"""The input pipeline workload: a temporary folder of JPEGs (two classes),
read by pycnn.preprocessing.image.ImageDataGenerator.flow_from_directory."""
import atexit
import contextlib
import io
import os
import shutil
import tempfile

import numpy as np

from bench.workloads import DATA

_folder = None
AUGMENT = dict(rotation_range=20, width_shift_range=0.1, height_shift_range=0.1,
               zoom_range=0.1, horizontal_flip=True)


def jpeg_folder():
    """Writes DATA['images'] random-noise-plus-gradient JPEGs once per process."""
    global _folder
    if _folder is None:
        from PIL import Image
        _folder = tempfile.mkdtemp(prefix="pycnn_bench_jpeg_")
        atexit.register(shutil.rmtree, _folder, True)
        rng = np.random.default_rng(0)
        size = DATA["size"]
        ramp = np.linspace(0, 200, size, dtype=np.float32)[None, :, None]
        for i in range(DATA["images"]):
            cls = os.path.join(_folder, f"class{i % 2}")
            os.makedirs(cls, exist_ok=True)
            noise = rng.integers(0, 56, (size, size, 3))
            img = np.clip(ramp + noise, 0, 255).astype(np.uint8)
            Image.fromarray(img).save(os.path.join(cls, f"{i:04d}.jpg"), quality=90)
    return _folder


def flow(augment):
    """An endless iterator of (x, y) batches of DATA['batch'] 224x224 images."""
    from pycnn.preprocessing.image import ImageDataGenerator
    gen = ImageDataGenerator(rescale=1 / 255, **(AUGMENT if augment else {}))
    with contextlib.redirect_stdout(io.StringIO()):  # "Found N images ..."
        it = gen.flow_from_directory(jpeg_folder(), target_size=(DATA["size"],) * 2,
                                     batch_size=DATA["batch"], class_mode="binary",
                                     seed=0)
    return it
