"""Saving and loading: Keras 3 .weights.h5 layout, .keras archives,
optimizer state, Keras-written fixture files, bad files, atomic writes."""
import io
import json
import os
import warnings
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

import pycnn  # noqa: E402
from pycnn import layers  # noqa: E402
from pycnn.saving import load_model, load_weights, save_model, save_weights  # noqa: E402
from pycnn.saving import weights_h5  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "data", "keras_fixtures")


def _needs(*names):
    missing = [n for n in names if not hasattr(layers, n)]
    if missing:
        pytest.skip(f"pycnn.layers lacks {missing}")


def _predict(model, x):
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


def _h5_datasets(path_or_bytes):
    """{dataset path: shape} and {group path: name attribute} of a weights file."""
    datasets, names = {}, {}
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with h5py.File(source, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                datasets[name] = obj.shape
            elif "name" in obj.attrs:
                names[name] = obj.attrs["name"]
        f.visititems(visit)
    return datasets, names


def _load_fixture_arrays(name):
    data = np.load(os.path.join(FIXTURES, f"{name}.npz"))
    xs = [data[k] for k in sorted(data) if k.startswith("x")]
    ys = [data[k] for k in sorted(data) if k.startswith("y")]
    return (xs if len(xs) > 1 else xs[0]), ys


# ------------------------------------------------------------------ models ---
def dense_bn_sequential():
    return pycnn.Sequential([pycnn.Input((5,)), layers.Dense(8, activation="relu"),
                             layers.BatchNormalization(), layers.Dense(3)])


def cnn_sequential():
    _needs("Conv2D", "MaxPooling2D")
    return pycnn.Sequential([
        pycnn.Input((8, 8, 2)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(3, 3, activation="relu"),
        layers.Flatten(),
        layers.Dropout(0.25),
        layers.Dense(3, activation="softmax"),
    ])


def nested_functional():
    """Shared layer, Concatenate, Add, a nested Model and two outputs."""
    inner_in = pycnn.Input((6,))
    inner = pycnn.Model(inner_in, layers.Dense(4, activation="tanh")(inner_in))
    a, b = pycnn.Input((6,), name="a"), pycnn.Input((6,), name="b")
    shared = layers.Dense(6, activation="relu")
    merged = layers.Concatenate()([shared(a), shared(b)])
    left = layers.Dense(4)(merged)
    right = inner(layers.Dense(6)(merged))
    out = layers.BatchNormalization()(layers.Add()([left, right]))
    return pycnn.Model([a, b], [layers.Dense(2)(out), out])


def _randomize_bn_statistics(model):
    """Non-default moving statistics, so a lost non-trainable weight shows."""
    rng = np.random.default_rng(7)
    for w in model.non_trainable_weights:
        w.assign(rng.random(w.shape).astype(np.float32) + 0.5)


# ------------------------------------------------------------- round trips ---
@pytest.mark.parametrize("make", [dense_bn_sequential, cnn_sequential, nested_functional])
@pytest.mark.parametrize("fmt", ["weights", "keras"])
def test_round_trip_gives_identical_predictions(tmp_path, make, fmt):
    model = make()
    _randomize_bn_statistics(model)
    rng = np.random.default_rng(0)
    shapes = [t.shape[1:] for t in model.inputs]
    x = [rng.random((4,) + s, dtype=np.float32) for s in shapes]
    x = x if len(x) > 1 else x[0]
    expected = _predict(model, x)
    if fmt == "weights":
        path = tmp_path / "m.weights.h5"
        save_weights(model, path)
        restored = make()
        load_weights(restored, path)
    else:
        path = tmp_path / "m.keras"
        save_model(model, path)
        restored = load_model(path)
        assert type(restored) is type(model)
        assert [l.name for l in restored.layers] == [l.name for l in model.layers]
    for got, want in zip(_predict(restored, x), expected):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_keras_archive_holds_three_members_and_keras_config(tmp_path):
    model = nested_functional()
    path = tmp_path / "m.keras"
    save_model(model, path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(zf.read("config.json"))
        metadata = json.loads(zf.read("metadata.json"))
    assert metadata["keras_version"].startswith("3.")
    assert config["class_name"] == "Functional"
    assert config["module"] == "keras.src.models.functional"
    assert set(config) >= {"module", "class_name", "config", "registered_name"}
    layer_configs = config["config"]["layers"]
    by_name = {c["name"]: c for c in layer_configs}
    concat = next(c for c in layer_configs if c["class_name"] == "Concatenate")
    (args,) = concat["inbound_nodes"][0]["args"]
    assert [t["class_name"] for t in args] == ["__keras_tensor__"] * 2
    # the shared Dense is called twice: nodes 0 and 1
    assert sorted(t["config"]["keras_history"][1] for t in args) == [0, 1]
    assert by_name["a"]["inbound_nodes"] == []
    assert config["config"]["input_layers"] == [["a", 0, 0], ["b", 0, 0]]


# ------------------------------------------------------- Keras file layout ---
def test_weights_file_has_keras_layout(tmp_path):
    inner_in = pycnn.Input((8,))
    inner = pycnn.Model(inner_in, layers.Dense(4)(layers.BatchNormalization()(inner_in)))
    model = pycnn.Sequential([pycnn.Input((5,)), layers.Dense(8), inner, layers.Dense(3),
                              layers.Dense(2)], name="seq")
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(np.ones((2, 5), np.float32), np.ones((2, 2), np.float32))
    path = tmp_path / "m.weights.h5"
    save_weights(model, path)
    datasets, names = _h5_datasets(str(path))
    assert names["vars"] == "seq"
    assert names["layers/dense/vars"] == model.layers[0].name
    assert names["layers/functional/vars"] == inner.name
    assert names["layers/functional/layers/input_layer/vars"] == inner_in._keras_history[0].name
    assert names["optimizer/vars"] == model.optimizer.name
    expected_layers = {
        "layers/dense/vars/0": (5, 8), "layers/dense/vars/1": (8,),
        "layers/functional/layers/batch_normalization/vars/0": (8,),
        "layers/functional/layers/batch_normalization/vars/1": (8,),
        "layers/functional/layers/batch_normalization/vars/2": (8,),
        "layers/functional/layers/batch_normalization/vars/3": (8,),
        "layers/functional/layers/dense/vars/0": (8, 4),
        "layers/functional/layers/dense/vars/1": (4,),
        "layers/dense_1/vars/0": (4, 3), "layers/dense_1/vars/1": (3,),
        "layers/dense_2/vars/0": (3, 2), "layers/dense_2/vars/1": (2,),
    }
    assert {k: v for k, v in datasets.items() if k.startswith("layers")} == expected_layers
    # iterations, learning_rate, then Adam's m, v per trainable variable (10 of
    # them), in model.trainable_variables order: 22 as Keras writes
    optimizer_shapes = [datasets[f"optimizer/vars/{i}"] for i in range(22)]
    assert optimizer_shapes[:6] == [(), (), (5, 8), (5, 8), (8,), (8,)]
    assert optimizer_shapes[6:10] == [(8,)] * 4  # batch_normalization gamma, beta
    assert "optimizer/vars/22" not in datasets
    with h5py.File(path, "r") as f:
        assert f["optimizer/vars/0"][()] == 1
        assert "layers/functional/layers/input_layer/vars" in f
        assert len(f["layers/functional/layers/input_layer/vars"]) == 0


def test_weights_file_matches_keras_written_file(tmp_path):
    """Same architecture as the Keras fixture -> the same groups and shapes."""
    model = cnn_sequential()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x, _ = _load_fixture_arrays("cnn")
    model.train_on_batch(x, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    path = tmp_path / "m.weights.h5"
    save_weights(model, path)
    ours, _ = _h5_datasets(str(path))
    theirs, _ = _h5_datasets(os.path.join(FIXTURES, "cnn.weights.h5"))
    assert ours == theirs


# ---------------------------------------------------------- Keras fixtures ---
@pytest.mark.parametrize("name", ["cnn", "functional", "recurrent"])
def test_keras_written_archive_loads_with_matching_predictions(name):
    if name == "recurrent":
        _needs("LSTM", "GRU")
    x, expected = _load_fixture_arrays(name)
    model = load_model(os.path.join(FIXTURES, f"{name}.keras"))
    for got, want in zip(_predict(model, x), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_keras_written_weights_load_into_pycnn_model():
    x, expected = _load_fixture_arrays("cnn")
    model = cnn_sequential()
    load_weights(model, os.path.join(FIXTURES, "cnn.weights.h5"))
    np.testing.assert_allclose(_predict(model, x)[0], expected[0], rtol=1e-5, atol=1e-6)


def test_keras_written_archive_restores_compile_and_optimizer_state():
    model = load_model(os.path.join(FIXTURES, "cnn.keras"))
    assert model.compiled and type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.iterations == 4  # 2 epochs x 2 batches in Keras
    with h5py.File(os.path.join(FIXTURES, "cnn.weights.h5"), "r") as f:
        saved = [np.asarray(f[f"optimizer/vars/{i}"]) for i in range(len(f["optimizer/vars"]))]
    state = model.optimizer.get_state()
    assert len(state) == len(saved)
    for got, want in zip(state[1:], saved[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_keras_functional_optimizer_state_loads_in_keras_order():
    """Slots follow Keras's model.trainable_variables order (depth-sorted layers)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_model(os.path.join(FIXTURES, "functional.keras"))
    assert model.optimizer.iterations == 2


def test_load_model_compile_false_leaves_model_uncompiled():
    model = load_model(os.path.join(FIXTURES, "cnn.keras"), compile=False)
    assert model.optimizer is None


# --------------------------------------------------------- optimizer state ---
def _data():
    rng = np.random.default_rng(3)
    return rng.random((16, 5), dtype=np.float32), rng.random((16, 3), dtype=np.float32)


def _fresh_trained(optimizer, steps):
    pycnn.utils.set_random_seed(11) if hasattr(pycnn.utils, "set_random_seed") else None
    model = dense_bn_sequential()
    rng = np.random.default_rng(5)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.3
                       for w in model.get_weights()])
    model.compile(optimizer=optimizer, loss="mse")
    x, y = _data()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum", "rmsprop"])
@pytest.mark.parametrize("fmt", ["weights", "keras"])
def test_optimizer_state_round_trip_continues_training_identically(tmp_path, optimizer, fmt):
    from pycnn import optimizers

    def make_optimizer():
        return {"adam": lambda: optimizers.Adam(0.01),
                "sgd_momentum": lambda: optimizers.SGD(0.05, momentum=0.9),
                "rmsprop": lambda: optimizers.RMSprop(0.01)}[optimizer]()

    x, y = _data()
    uninterrupted = _fresh_trained(make_optimizer(), 4)
    interrupted = _fresh_trained(make_optimizer(), 2)
    if fmt == "weights":
        path = tmp_path / "m.weights.h5"
        save_weights(interrupted, path)
        resumed = _fresh_trained(make_optimizer(), 0)
        load_weights(resumed, path)
    else:
        path = tmp_path / "m.keras"
        save_model(interrupted, path)
        resumed = load_model(path)
    assert resumed.optimizer.iterations == 2
    for _ in range(2):
        resumed.train_on_batch(x, y)
    for got, want in zip(resumed.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_include_optimizer_false_writes_no_optimizer(tmp_path):
    model = _fresh_trained("adam", 1)
    path = tmp_path / "m.keras"
    save_model(model, path, include_optimizer=False)
    with zipfile.ZipFile(path) as zf:
        datasets, _ = _h5_datasets(zf.read("model.weights.h5"))
        assert json.loads(zf.read("config.json"))["compile_config"] is None
    assert not any(k.startswith("optimizer") for k in datasets)


# --------------------------------------------------------------- bad files ---
def test_wrong_architecture_raises_and_leaves_model_unchanged(tmp_path):
    path = tmp_path / "small.weights.h5"
    save_weights(pycnn.Sequential([pycnn.Input((5,)), layers.Dense(4), layers.Dense(3)]), path)
    target = pycnn.Sequential([pycnn.Input((5,)), layers.Dense(4), layers.Dense(2)])
    before = target.get_weights()
    with pytest.raises(ValueError, match=r"small\.weights\.h5.*dense_1.*\(4, 2\).*\(4, 3\)"):
        load_weights(target, path)
    for got, want in zip(target.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_missing_and_extra_layers_raise(tmp_path):
    path = tmp_path / "two.weights.h5"
    save_weights(pycnn.Sequential([pycnn.Input((5,)), layers.Dense(4), layers.Dense(3)]), path)
    bigger = pycnn.Sequential([pycnn.Input((5,)), layers.Dense(4), layers.Dense(3),
                               layers.Dense(2)])
    with pytest.raises(ValueError, match=r"two\.weights\.h5.*layers/dense_2"):
        load_weights(bigger, path)
    smaller = pycnn.Sequential([pycnn.Input((5,)), layers.Dense(4)])
    before = smaller.get_weights()
    with pytest.raises(ValueError, match=r"two\.weights\.h5.*layers/dense_1"):
        load_weights(smaller, path)
    for got, want in zip(smaller.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_skip_mismatch_loads_what_fits(tmp_path):
    source = pycnn.Sequential([pycnn.Input((5,)), layers.Dense(4), layers.Dense(3)])
    path = tmp_path / "m.weights.h5"
    save_weights(source, path)
    target = pycnn.Sequential([pycnn.Input((5,)), layers.Dense(4), layers.Dense(2)])
    with pytest.warns(UserWarning, match="dense_1"):
        load_weights(target, path, skip_mismatch=True)
    np.testing.assert_array_equal(target.layers[0].get_weights()[0],
                                  source.layers[0].get_weights()[0])


def test_truncated_files_raise_value_error_naming_file(tmp_path):
    model = dense_bn_sequential()
    for name, save in (("m.weights.h5", save_weights), ("m.keras", save_model)):
        path = tmp_path / name
        save(model, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        loader = load_weights if name.endswith(".h5") else \
            (lambda m, p: load_model(p))
        with pytest.raises(ValueError, match=name.replace(".", r"\.")):
            loader(dense_bn_sequential(), path)


def test_garbage_and_missing_files(tmp_path):
    bad = tmp_path / "garbage.keras"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="garbage.keras"):
        load_model(bad)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.keras")
    with pytest.raises(ValueError, match="File not found: filepath="):   # as Keras
        load_model(tmp_path / "absent.keras")
    with pytest.raises(FileNotFoundError):
        load_weights(dense_bn_sequential(), tmp_path / "absent.weights.h5")


def _archive_with(tmp_path, extra_name):
    model = dense_bn_sequential()
    good = tmp_path / "good.keras"
    save_model(model, good)
    evil = tmp_path / "evil.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.writestr(extra_name, b"payload")
    return evil


@pytest.mark.parametrize("member", ["../evil.txt", "assets/../../evil.txt", "/etc/evil",
                                    "C:/evil.txt"])
def test_path_traversal_members_are_rejected(tmp_path, member):
    evil = _archive_with(tmp_path, member)
    with pytest.raises(ValueError, match="path traversal"):
        load_model(evil)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_unknown_class_in_config_is_rejected(tmp_path):
    good = tmp_path / "good.keras"
    save_model(dense_bn_sequential(), good)
    with zipfile.ZipFile(good) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["class_name"] = "os.system"
    config["config"]["layers"][1]["module"] = "os"
    members["config.json"] = json.dumps(config).encode()
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    with pytest.raises(ValueError, match=r"bad\.keras.*Unknown layer class 'os.system'"):
        load_model(bad)


def test_bad_suffixes():
    model = dense_bn_sequential()
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        save_weights(model, "model.h5")
    with pytest.raises(ValueError, match=r"\.keras"):
        save_model(model, "model.txt")
    with pytest.raises(ValueError, match="format not supported"):
        load_weights(model, "model.txt")


# ---------------------------------------------------------------- atomicity ---
def _assert_only(directory, names):
    assert sorted(os.listdir(directory)) == sorted(names)


def test_failed_weights_save_keeps_previous_file(tmp_path, monkeypatch):
    model = dense_bn_sequential()
    path = tmp_path / "m.weights.h5"
    save_weights(model, path)
    original = path.read_bytes()

    real_create = weights_h5._create_vars_group
    calls = {"n": 0}

    def failing_create(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # midway through the layers
            raise RuntimeError("disk full (injected)")
        return real_create(*args, **kwargs)

    monkeypatch.setattr(weights_h5, "_create_vars_group", failing_create)
    with pytest.raises(RuntimeError, match="injected"):
        save_weights(dense_bn_sequential(), path)
    assert path.read_bytes() == original
    _assert_only(tmp_path, ["m.weights.h5"])


def test_failed_model_save_keeps_previous_file(tmp_path, monkeypatch):
    from pycnn.saving import keras_zip
    model = dense_bn_sequential()
    path = tmp_path / "m.keras"
    save_model(model, path)
    original = path.read_bytes()

    def failing_write(zip_path, config_json, weights_bytes):
        with open(zip_path, "wb") as f:
            f.write(b"partial")
        raise RuntimeError("interrupted (injected)")

    monkeypatch.setattr(keras_zip, "write_archive", failing_write)
    with pytest.raises(RuntimeError, match="injected"):
        save_model(dense_bn_sequential(), path)
    assert path.read_bytes() == original
    _assert_only(tmp_path, ["m.keras"])


def test_overwrite_false_keeps_existing_file_without_a_tty(tmp_path, monkeypatch):
    path = tmp_path / "m.weights.h5"
    save_weights(dense_bn_sequential(), path)
    original = path.read_bytes()

    def no_answer(prompt=""):
        raise EOFError
    monkeypatch.setattr("builtins.input", no_answer)
    save_weights(dense_bn_sequential(), path, overwrite=False)
    assert path.read_bytes() == original


@pytest.mark.parametrize("fmt", ["weights", "keras"])
def test_functional_optimizer_state_round_trip(tmp_path, fmt):
    """Slot order survives a graph whose layer order is not creation order."""
    from pycnn import optimizers
    rng = np.random.default_rng(9)
    xs = [rng.random((8, 6), dtype=np.float32) for _ in range(2)]
    ys = [rng.random((8, 2), dtype=np.float32), rng.random((8, 4), dtype=np.float32)]

    def trained(steps, weights=None):
        model = nested_functional()
        if weights is not None:
            model.set_weights(weights)
        model.compile(optimizer=optimizers.Adam(0.01), loss=["mse", "mse"])
        for _ in range(steps):
            model.train_on_batch(xs, ys)
        return model

    start = nested_functional().get_weights()
    uninterrupted = trained(4, start)
    interrupted = trained(2, start)
    path = tmp_path / ("m.weights.h5" if fmt == "weights" else "m.keras")
    if fmt == "weights":
        save_weights(interrupted, path)
        resumed = trained(0, start)
        load_weights(resumed, path)
    else:
        save_model(interrupted, path)
        resumed = load_model(path)
    for _ in range(2):
        resumed.train_on_batch(xs, ys)
    for got, want in zip(resumed.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_recurrent_weights_live_under_cell_groups(tmp_path):
    recurrent = pytest.importorskip("pycnn.layers.recurrent")
    model = pycnn.Sequential([pycnn.Input((5, 3)), recurrent.LSTM(4, return_sequences=True),
                              recurrent.GRU(3), layers.Dense(2)])
    load_weights(model, os.path.join(FIXTURES, "recurrent.weights.h5"))
    x, expected = _load_fixture_arrays("recurrent")
    np.testing.assert_allclose(_predict(model, x)[0], expected[0], rtol=1e-5, atol=1e-6)
    path = tmp_path / "r.weights.h5"
    save_weights(model, path)
    ours, names = _h5_datasets(str(path))
    theirs, _ = _h5_datasets(os.path.join(FIXTURES, "recurrent.weights.h5"))
    assert ours == theirs
    assert "layers/lstm/cell/vars/2" in ours and names["layers/lstm/vars"] == \
        model.layers[0].name
