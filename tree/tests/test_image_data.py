"""ImageDataGenerator (flow, flow_from_directory) and image_dataset_from_directory
on small generated image folders."""
import os

import numpy as np
import pytest

from pycnn.preprocessing import _affine
from pycnn.preprocessing.image import ImageDataGenerator, apply_affine_transform
from pycnn.utils.image_dataset import image_dataset_from_directory

Image = pytest.importorskip("PIL.Image")

CLASSES = ["circles", "squares", "triangles"]
COUNTS = [6, 7, 8]  # files per class


def _shape_image(kind, height, width, rng):
    """A bright shape on a dark noisy background (uint8, h x w x 3)."""
    rows, cols = np.mgrid[:height, :width]
    cy, cx, r = height / 2, width / 2, min(height, width) / 3
    if kind == "circles":
        mask = (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r
    elif kind == "squares":
        mask = (np.abs(rows - cy) <= r) & (np.abs(cols - cx) <= r)
    else:
        mask = (rows >= cy - r) & (rows <= cy + r) & (np.abs(cols - cx) <= (rows - cy + r) / 2)
    img = rng.randint(0, 60, (height, width, 3))
    img[mask] = rng.randint(180, 256, 3)
    return img.astype(np.uint8)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.RandomState(0)
    for kind, count in zip(CLASSES, COUNTS):
        os.makedirs(root / kind)
        for k in range(count):
            img = _shape_image(kind, rng.randint(20, 48), rng.randint(20, 48), rng)
            ext = ["png", "jpg", "PNG", "jpeg"][k % 4]
            Image.fromarray(img).save(root / kind / f"{k:02d}.{ext}")
        (root / kind / "readme.txt").write_text("not an image")
    return str(root)


def test_listing_counts_order_and_message(image_dir, capsys):
    it = ImageDataGenerator().flow_from_directory(image_dir, target_size=(16, 20),
                                                  batch_size=4, shuffle=False)
    assert "Found 21 images belonging to 3 classes." in capsys.readouterr().out
    assert it.class_indices == {"circles": 0, "squares": 1, "triangles": 2}
    assert it.samples == it.n == 21 and it.num_classes == 3 and it.batch_size == 4
    assert len(it) == 6 and it.image_shape == (16, 20, 3)
    assert it.filenames[:2] == [os.path.join("circles", "00.png"),
                                os.path.join("circles", "01.jpg")]
    np.testing.assert_array_equal(it.classes, np.repeat([0, 1, 2], COUNTS))
    assert all(os.path.isfile(p) for p in it.filepaths)


def test_validation_split_takes_first_fraction_of_each_class(image_dir):
    gen = ImageDataGenerator(validation_split=0.3)
    train = gen.flow_from_directory(image_dir, target_size=(8, 8), subset="training")
    val = gen.flow_from_directory(image_dir, target_size=(8, 8), subset="validation")
    expected_val = [int(0.3 * c) for c in COUNTS]
    assert val.samples == sum(expected_val)
    assert train.samples == sum(COUNTS) - sum(expected_val)
    assert val.filenames[0] == os.path.join("circles", "00.png")
    assert not set(train.filenames) & set(val.filenames)


@pytest.mark.parametrize("class_mode", ["categorical", "sparse", "binary", "input", None])
def test_batch_shapes_and_label_encodings(image_dir, class_mode):
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        image_dir, target_size=(12, 10), batch_size=5, class_mode=class_mode, shuffle=False)
    batch = it[0]
    x = batch[0] if class_mode is not None else batch
    assert x.shape == (5, 12, 10, 3) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1 + 1e-6
    if class_mode is None:
        assert isinstance(batch, np.ndarray)
        return
    y = batch[1]
    assert y.dtype == np.float32
    if class_mode == "categorical":
        np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[[0] * 5])
    elif class_mode in ("sparse", "binary"):
        np.testing.assert_array_equal(y, np.zeros(5, np.float32))
        last = it[len(it) - 1][1]
        assert last.shape == (1,) and last[0] == 2.0  # 21 = 4 * 5 + 1
    else:
        np.testing.assert_array_equal(y, x)


def test_grayscale_and_rgba(image_dir):
    gray = ImageDataGenerator().flow_from_directory(image_dir, target_size=(9, 9),
                                                    color_mode="grayscale", shuffle=False)
    rgba = ImageDataGenerator().flow_from_directory(image_dir, target_size=(9, 9),
                                                    color_mode="rgba", shuffle=False)
    assert gray[0][0].shape[-1] == 1 and gray.image_shape == (9, 9, 1)
    x = rgba[0][0]
    assert x.shape[-1] == 4 and np.all(x[..., 3] == 255)
    # Pillow's 'L' conversion of the first file, resized with 'nearest'.
    ref = Image.open(gray.filepaths[0]).convert("L").resize((9, 9), Image.NEAREST)
    np.testing.assert_array_equal(gray[0][0][0, :, :, 0], np.asarray(ref, np.float32))


def test_seeded_order_is_deterministic_and_reshuffles_each_epoch(image_dir):
    gen = ImageDataGenerator(rotation_range=20, horizontal_flip=True)

    def run(seed):
        it = gen.flow_from_directory(image_dir, target_size=(8, 8), batch_size=6,
                                     class_mode="sparse", seed=seed)
        return [next(it) for _ in range(2 * len(it))]

    a, b, c = run(3), run(3), run(4)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(ya, yc) for (_, ya), (_, yc) in zip(a, c))
    epoch1 = np.concatenate([y for _, y in a[:4]])
    epoch2 = np.concatenate([y for _, y in a[4:]])
    assert sorted(epoch1) == sorted(epoch2) == sorted(np.repeat([0, 1, 2], COUNTS))
    assert not np.array_equal(epoch1, epoch2)


def test_next_runs_over_epochs_with_partial_last_batch(image_dir):
    it = ImageDataGenerator().flow_from_directory(image_dir, target_size=(4, 4), batch_size=8,
                                                  shuffle=False, class_mode="sparse")
    sizes = [len(next(it)[1]) for _ in range(6)]
    assert sizes == [8, 8, 5, 8, 8, 5]


def test_getitem_matches_on_epoch_end_protocol(image_dir):
    it = ImageDataGenerator().flow_from_directory(image_dir, target_size=(4, 4), batch_size=5,
                                                  seed=1, class_mode="sparse")
    first = np.concatenate([it[i][1] for i in range(len(it))])
    again = it[0][1]
    np.testing.assert_array_equal(again, first[:5])  # same epoch, same order
    it.on_epoch_end()
    second = np.concatenate([it[i][1] for i in range(len(it))])
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)
    with pytest.raises(ValueError):
        it[len(it)]


def test_augmentation_changes_images_but_keeps_shape_and_range(image_dir):
    plain = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        image_dir, target_size=(24, 24), shuffle=False, batch_size=21)
    aug = ImageDataGenerator(rescale=1 / 255, rotation_range=40, width_shift_range=0.2,
                             height_shift_range=0.2, shear_range=15, zoom_range=0.3,
                             horizontal_flip=True, vertical_flip=True,
                             brightness_range=(0.6, 1.2), channel_shift_range=10,
                             fill_mode="reflect").flow_from_directory(
        image_dir, target_size=(24, 24), shuffle=False, batch_size=21, seed=0)
    x0, y0 = plain[0]
    x1, y1 = aug[0]
    assert x1.shape == x0.shape and x1.dtype == np.float32
    np.testing.assert_array_equal(y0, y1)
    assert 0 <= x1.min() and x1.max() <= 1 + 1e-6  # 255 * (1/255) in float32
    changed = np.abs(x1 - x0).reshape(21, -1).max(axis=1) > 0.05
    assert changed.all()


@pytest.mark.parametrize("fill_mode,expected_row", [
    ("constant", [9, 9, 0, 1, 2]),
    ("nearest", [0, 0, 0, 1, 2]),
    ("reflect", [1, 0, 0, 1, 2]),
    ("wrap", [2, 3, 0, 1, 2]),  # scipy's 'wrap' (period size-1), as Keras
])
def test_fill_modes_for_a_two_pixel_shift(fill_mode, expected_row):
    x = np.tile(np.arange(5, dtype=np.float32), (5, 1))[:, :, None]  # column index
    gen = ImageDataGenerator(fill_mode=fill_mode, cval=9.0)
    # Keras's 'tx' (height shift) moves along columns for channels_last images.
    out = gen.apply_transform(x, {"tx": -2})
    np.testing.assert_allclose(out[:, :, 0], np.tile(expected_row, (5, 1)))
    np.testing.assert_allclose(
        apply_affine_transform(x, tx=-2, row_axis=0, col_axis=1, channel_axis=2,
                               fill_mode=fill_mode, cval=9.0), out)


def test_bilinear_matches_direct_computation_for_half_pixel_shift():
    rng = np.random.RandomState(0)
    x = rng.rand(2, 6, 7, 3).astype(np.float32)
    matrix = np.array([[1, 0, 0.5], [0, 1, 0.0], [0, 0, 1]])  # read row i + 0.5
    out = _affine.affine_transform_batch(x, np.stack([matrix, matrix]), "nearest")
    expected = 0.5 * (x + np.concatenate([x[:, 1:], x[:, -1:]], axis=1))
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_random_transform_seed_and_flip():
    x = np.random.RandomState(1).rand(8, 6, 3).astype(np.float32)
    gen = ImageDataGenerator(rotation_range=30, zoom_range=0.2)
    np.testing.assert_array_equal(gen.random_transform(x, seed=5), gen.random_transform(x, seed=5))
    flip = ImageDataGenerator(horizontal_flip=True).apply_transform(x, {"flip_horizontal": True})
    np.testing.assert_array_equal(flip, x[:, ::-1])


def test_flow_arrays_batches_and_sample_weight():
    rng = np.random.RandomState(0)
    x = rng.rand(10, 5, 4, 1).astype(np.float32)
    y = np.arange(10)
    it = ImageDataGenerator().flow(x, y, batch_size=4, shuffle=False)
    assert len(it) == 3
    bx, by = it[0]
    np.testing.assert_array_equal(bx, x[:4])
    np.testing.assert_array_equal(by, y[:4])
    assert it[2][0].shape == (2, 5, 4, 1)
    sw = np.linspace(0, 1, 10)
    bx, by, bw = next(ImageDataGenerator().flow(x, y, sample_weight=sw, batch_size=3,
                                                 shuffle=False))
    np.testing.assert_array_equal(bw, sw[:3])
    assert isinstance(ImageDataGenerator().flow(x, batch_size=3)[0], np.ndarray)
    shuffled = ImageDataGenerator().flow(x, y, batch_size=10, seed=2)[0][1]
    assert sorted(shuffled) == list(range(10))


def test_flow_bad_inputs_and_channel_warning():
    gen = ImageDataGenerator()
    with pytest.raises(ValueError, match="rank 4"):
        gen.flow(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="same length"):
        gen.flow(np.zeros((3, 4, 4, 1)), np.zeros(2))
    with pytest.warns(UserWarning, match="channels"):
        gen.flow(np.zeros((3, 4, 4, 2)))


def test_featurewise_fit_and_standardize():
    rng = np.random.RandomState(0)
    x = rng.rand(20, 4, 4, 3).astype(np.float32) * 10
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
    gen.fit(x)
    np.testing.assert_allclose(gen.mean.ravel(), x.mean(axis=(0, 1, 2)), rtol=1e-5)
    out = np.concatenate([b for b in (gen.flow(x, batch_size=20, shuffle=False)[0],)])
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-3)
    sample = ImageDataGenerator(samplewise_center=True).flow(x, batch_size=5, shuffle=False)[0]
    np.testing.assert_allclose(sample.mean(axis=(1, 2, 3)), 0, atol=1e-4)


def test_missing_and_empty_directories(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImageDataGenerator().flow_from_directory(str(tmp_path / "nowhere"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    it = ImageDataGenerator().flow_from_directory(str(tmp_path))
    assert "Found 0 images belonging to 2 classes." in capsys.readouterr().out
    assert len(it) == 0 and it.samples == 0
    with pytest.raises(FileNotFoundError, match="nowhere"):
        image_dataset_from_directory(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="No images found"):
        image_dataset_from_directory(str(tmp_path))


def test_corrupt_file_raises_naming_it(tmp_path):
    (tmp_path / "cls").mkdir()
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "cls" / "good.png")
    (tmp_path / "cls" / "bad.png").write_bytes(b"not a png at all")
    it = ImageDataGenerator().flow_from_directory(str(tmp_path), target_size=(5, 5),
                                                  shuffle=False, batch_size=2)
    assert it.samples == 2
    with pytest.raises(OSError, match="bad.png"):
        it[0]


def test_invalid_arguments(image_dir):
    gen = ImageDataGenerator()
    with pytest.raises(ValueError, match="color mode"):
        gen.flow_from_directory(image_dir, color_mode="cmyk")
    with pytest.raises(ValueError, match="class_mode"):
        gen.flow_from_directory(image_dir, class_mode="onehot")
    with pytest.raises(ValueError, match="validation_split"):
        ImageDataGenerator(validation_split=1.5)
    with pytest.raises(ValueError, match="fill_mode"):
        ImageDataGenerator(fill_mode="mirror")


def test_image_dataset_from_directory_split_and_labels(image_dir, capsys):
    train, val = image_dataset_from_directory(image_dir, validation_split=0.25, subset="both",
                                              seed=7, image_size=(10, 12), batch_size=4)
    out = capsys.readouterr().out
    assert "Found 21 files belonging to 3 classes." in out
    assert "Using 16 files for training." in out and "Using 5 files for validation." in out
    assert train.class_names == CLASSES and len(train) == 4 and len(val) == 2
    assert not set(train.file_paths) & set(val.file_paths)
    # Keras: one global shuffle with RandomState(seed), validation = last fraction.
    all_paths = sorted(train.file_paths + val.file_paths)
    shuffled = list(all_paths)
    np.random.RandomState(7).shuffle(shuffled)
    assert val.file_paths == shuffled[-5:]
    x, y = train[0]
    assert x.shape == (4, 10, 12, 3) and x.dtype == np.float32 and x.max() > 1
    assert y.dtype == np.int32 and y.shape == (4,)
    names = [os.path.basename(os.path.dirname(p)) for p in val.file_paths]
    labels = np.concatenate([b[1] for b in val])
    np.testing.assert_array_equal(labels, [CLASSES.index(n) for n in names])


@pytest.mark.parametrize("label_mode,shape,dtype", [
    ("categorical", (3, 3), np.float32), ("int", (3,), np.int32), (None, None, None)])
def test_image_dataset_label_modes(image_dir, label_mode, shape, dtype):
    ds = image_dataset_from_directory(image_dir, label_mode=label_mode, batch_size=3,
                                      image_size=(6, 6), color_mode="grayscale", seed=1,
                                      verbose=False)
    batch = next(iter(ds))
    if label_mode is None:
        assert batch.shape == (3, 6, 6, 1)
    else:
        assert batch[0].shape == (3, 6, 6, 1)
        assert batch[1].shape == shape and batch[1].dtype == dtype
        if label_mode == "categorical":
            np.testing.assert_array_equal(batch[1].sum(axis=1), 1)


def test_image_dataset_binary_needs_two_classes(image_dir):
    with pytest.raises(ValueError, match="exactly 2"):
        image_dataset_from_directory(image_dir, label_mode="binary", verbose=False)
    ds = image_dataset_from_directory(image_dir, label_mode="binary",
                                      class_names=["circles", "squares"], batch_size=50,
                                      verbose=False, image_size=(5, 5))
    x, y = ds[0]
    assert y.shape == (13, 1) and y.dtype == np.float32 and set(y.ravel()) == {0.0, 1.0}


def test_image_dataset_reshuffles_each_epoch(image_dir):
    ds = image_dataset_from_directory(image_dir, batch_size=21, image_size=(4, 4), seed=3,
                                      verbose=False)
    first = next(iter(ds))[1]
    ds.on_epoch_end()
    second = ds[0][1]
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)
    fixed = image_dataset_from_directory(image_dir, batch_size=21, image_size=(4, 4),
                                         shuffle=False, verbose=False)
    np.testing.assert_array_equal(fixed[0][1], np.repeat([0, 1, 2], COUNTS))


def test_resize_crop_and_pad(image_dir):
    crop = image_dataset_from_directory(image_dir, image_size=(8, 16), batch_size=2,
                                        crop_to_aspect_ratio=True, verbose=False, seed=0)
    pad = image_dataset_from_directory(image_dir, image_size=(8, 16), batch_size=2,
                                       pad_to_aspect_ratio=True, verbose=False, seed=0)
    assert crop[0][0].shape == pad[0][0].shape == (2, 8, 16, 3)
    assert (pad[0][0][:, :, 0] == 0).all()  # square-ish images leave side bands
    with pytest.raises(ValueError, match="Only one of"):
        image_dataset_from_directory(image_dir, crop_to_aspect_ratio=True,
                                     pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="seed"):
        image_dataset_from_directory(image_dir, validation_split=0.2, subset="training")


def test_random_access_gives_same_batches_whatever_was_prefetched(image_dir):
    def batches(order):
        it = ImageDataGenerator(rotation_range=30).flow_from_directory(
            image_dir, target_size=(8, 8), batch_size=5, seed=11, class_mode="sparse")
        return [it[i] for i in order]

    a, b = batches([0, 2, 1, 3]), batches([0, 2, 1, 3])
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_fit_consumes_directory_iterators(image_dir):
    import pycnn
    from pycnn import layers
    gen = ImageDataGenerator(rescale=1 / 255, validation_split=0.25, horizontal_flip=True)
    train = gen.flow_from_directory(image_dir, target_size=(8, 8), batch_size=4,
                                    class_mode="sparse", subset="training", seed=1)
    val = gen.flow_from_directory(image_dir, target_size=(8, 8), batch_size=4,
                                  class_mode="sparse", subset="validation", seed=1)
    model = pycnn.Sequential([pycnn.Input((8, 8, 3)), layers.Flatten(),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train, validation_data=val, steps_per_epoch=len(train),
                        validation_steps=len(val), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and len(history.history["val_loss"]) == 2
    ds = image_dataset_from_directory(image_dir, image_size=(8, 8), batch_size=4, seed=1,
                                      verbose=False)
    model.fit(ds, epochs=1, verbose=0)
