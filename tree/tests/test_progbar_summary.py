"""Progress bar, callbacks and model.summary() against Keras 3's exact text.

The expected strings were printed by Keras 3.15 (JAX backend) for the same
calls; summaries use stub layers so they do not depend on real layers."""
import csv
import io
import sys
import time

import numpy as np
import pytest

from pycnn import callbacks
from pycnn.layers.base import Input, InputLayer, Layer
from pycnn.models.summary import print_summary, readable_memory_size
from pycnn.utils.progbar import Progbar


# ----- progress bar ---------------------------------------------------------
@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def _capture(fn):
    buffer, old = io.StringIO(), sys.stdout
    sys.stdout = buffer
    try:
        fn()
    finally:
        sys.stdout = old
    return buffer.getvalue()


def _run_epoch(progbar, clock, steps, loss=lambda i: 0.5 / i):
    for i in range(1, steps + 1):
        clock[0] += 0.7
        progbar.update(i, [("accuracy", 0.9 + i * 0.001), ("loss", loss(i))])


def test_verbose2_prints_one_line_per_epoch(clock):
    out = _capture(lambda: _run_epoch(Progbar(10, verbose=2, stateless_metrics=set()),
                                      clock, 10))
    assert out == "10/10 - 7s - 700ms/step - accuracy: 0.9100 - loss: 0.0500\n"


def test_verbose2_averages_stateless_values(clock):
    out = _capture(lambda: _run_epoch(Progbar(7, verbose=2), clock, 7))
    assert out == "7/7 - 5s - 700ms/step - accuracy: 0.9070 - loss: 0.0714\n"


def test_verbose1_redraws_in_place(clock):
    def run():
        bar = Progbar(5, stateful_metrics=["x"])
        bar.add(2, [("x", 0.5), ("y", 3.0)])
        clock[0] += 100
        bar.add(3, [("x", 0.7), ("y", 1.0)])
    expected = ("\r\x1b[1m2/5\x1b[0m \x1b[32m" + "━" * 8 + "\x1b[0m\x1b[37m" + "━" * 12 +
                "\x1b[0m \x1b[1m0s\x1b[0m 0s/step - x: 0.5000 - y: 3.0000" + "\b" * 59 +
                "\r\x1b[1m5/5\x1b[0m \x1b[32m" + "━" * 20 + "\x1b[0m\x1b[37m\x1b[0m "
                "\x1b[1m100s\x1b[0m 20s/step - x: 0.7000 - y: 1.0000\n")
    assert _capture(run) == expected


def test_tiny_values_use_scientific_notation(clock):
    out = _capture(lambda: _run_epoch(Progbar(5, stateless_metrics=set()), clock, 5,
                                      loss=lambda i: 1e-5 * i))
    assert out.endswith("700ms/step - accuracy: 0.9050 - loss: 5.0000e-05\n")


def test_unknown_target_shows_count(clock):
    out = _capture(lambda: Progbar(None).update(3, [("loss", 1.0)]))
    assert "      3/Unknown" in out


# ----- callbacks ------------------------------------------------------------
class FakeOptimizer:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate


class FakeModel:
    """What callbacks touch: weights, stop_training, optimizer, save."""

    def __init__(self):
        self.weights = [np.zeros(2, np.float32)]
        self.stop_training = False
        self.optimizer = FakeOptimizer()
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, path, overwrite=True):
        self.saved.append(path)

    def save_weights(self, path, overwrite=True):
        self.saved.append(path)


def _fit(model, cbs, epoch_logs, steps=2, verbose=0):
    """Drive callbacks the way fit does."""
    cl = callbacks.CallbackList(cbs, add_history=True, add_progbar=verbose != 0,
                                model=model, verbose=verbose,
                                epochs=len(epoch_logs), steps=steps)
    cl.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        cl.on_epoch_begin(epoch)
        for batch in range(steps):
            cl.on_train_batch_begin(batch)
            cl.on_train_batch_end(batch, {"loss": logs.get("loss", 0.0)})
        cl.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    cl.on_train_end()
    return model.history


def test_history_records_sorted_python_floats():
    model = FakeModel()
    history = _fit(model, [], [{"loss": np.float32(0.5), "accuracy": 0.7},
                               {"loss": 0.25, "accuracy": np.float64(0.8)}])
    assert history.history == {"accuracy": [0.7, 0.8], "loss": [0.5, 0.25]}
    assert history.epoch == [0, 1]
    assert isinstance(history.history["loss"][0], float)
    assert list(history.history) == ["accuracy", "loss"]


def test_progbar_logger_prints_epochs(clock):
    out = _capture(lambda: _fit(FakeModel(), [], [{"loss": 1.0}, {"loss": 0.5}], verbose=2))
    assert out.startswith("Epoch 1/2\n2/2 - 0s - 0s/step - loss: 1.0000\nEpoch 2/2\n")


def test_callback_hooks_order():
    seen = []

    class Recorder(callbacks.Callback):
        def on_train_begin(self, logs=None): seen.append("train_begin")
        def on_epoch_begin(self, epoch, logs=None): seen.append(f"epoch{epoch}")
        def on_batch_end(self, batch, logs=None): seen.append(f"batch{batch}")
        def on_train_end(self, logs=None): seen.append("train_end")

    rec = Recorder()
    model = FakeModel()
    _fit(model, [rec], [{"loss": 1.0}], steps=2)
    assert seen == ["train_begin", "epoch0", "batch0", "batch1", "train_end"]
    assert rec.model is model and rec.params["epochs"] == 1


def test_early_stopping_patience_and_restore():
    model = FakeModel()

    class Step(callbacks.Callback):   # changes the weights every epoch
        def on_epoch_begin(self, epoch, logs=None):
            self.model.weights = [np.full(2, epoch, np.float32)]

    stopper = callbacks.EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    losses = [1.0, 0.5, 0.6, 0.7, 0.4]
    history = _fit(model, [Step(), stopper], [{"loss": v} for v in losses])
    assert model.stop_training and stopper.stopped_epoch == 3
    assert len(history.epoch) == 4
    np.testing.assert_array_equal(model.weights[0], [1, 1])   # best epoch's weights


def test_early_stopping_mode_auto_needs_known_metric():
    stopper = callbacks.EarlyStopping(monitor="val_auc")
    stopper.set_model(FakeModel())
    with pytest.raises(ValueError, match="maximized or minimized"):
        stopper.on_epoch_end(0, {"val_auc": 0.5})


def test_terminate_on_nan():
    model = FakeModel()
    out = _capture(lambda: _fit(model, [callbacks.TerminateOnNaN()],
                                [{"loss": float("nan")}, {"loss": 1.0}]))
    assert model.stop_training and "Batch 0: Invalid loss, terminating training" in out


def test_model_checkpoint_formats_path(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "w.{epoch:02d}-{val_loss:.2f}.weights.h5")
    ckpt = callbacks.ModelCheckpoint(path, save_weights_only=True, save_best_only=True)
    _fit(model, [ckpt], [{"loss": 1, "val_loss": 0.5}, {"loss": 1, "val_loss": 0.7},
                         {"loss": 1, "val_loss": 0.25}])
    assert [p.split("/")[-1] for p in model.saved] == ["w.01-0.50.weights.h5",
                                                       "w.03-0.25.weights.h5"]
    with pytest.raises(ValueError):
        callbacks.ModelCheckpoint(str(tmp_path / "model.txt"))


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    _fit(FakeModel(), [callbacks.CSVLogger(str(path))],
         [{"loss": 0.5, "accuracy": 0.25}, {"loss": 0.125, "accuracy": 0.5}])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert rows[2] == ["1", "0.5", "0.125", "NA", "NA"]


def test_learning_rate_scheduler_and_reduce_on_plateau():
    model = FakeModel()
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    history = _fit(model, [sched], [{"loss": 1.0}, {"loss": 1.0}])
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025])

    model = FakeModel()
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    _fit(model, [reduce], [{"loss": 1.0}, {"loss": 1.0}, {"loss": 1.0}])
    assert model.optimizer.learning_rate == pytest.approx(0.025)


def test_lambda_callback():
    ends = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(epoch))
    _fit(FakeModel(), [cb], [{"loss": 1.0}] * 3)
    assert ends == [0, 1, 2]


# ----- summary --------------------------------------------------------------
class Stub(Layer):
    """A layer with a fixed output shape and weights of the given shapes."""
    _multi_input = True

    def __init__(self, name, out_shape, trainable_shapes=(), frozen_shapes=()):
        super().__init__(name=name)
        self._out = tuple(out_shape)
        self._trainable_shapes, self._frozen_shapes = trainable_shapes, frozen_shapes

    def build(self, input_shape):
        for s in self._trainable_shapes:
            self.add_weight(s, initializer="zeros", name="w")
        for s in self._frozen_shapes:
            self.add_weight(s, initializer="zeros", name="f", trainable=False)

    def compute_output_shape(self, input_shape):
        return self._out


def stub(cls_name, *args, **kwargs):
    return type(cls_name, (Stub,), {})(*args, **kwargs)


class SummaryModel:
    def __init__(self, name, layers, outputs, sequential, optimizer=None):
        self.name, self.layers, self.outputs = name, layers, outputs
        self._is_sequential = sequential
        self.optimizer = optimizer

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer in self.layers for w in layer.non_trainable_weights]


def sequential_model():
    layers = [stub("Conv2D", "conv2d", (None, 26, 26, 32), [(3, 3, 1, 32), (32,)]),
              stub("MaxPooling2D", "max_pooling2d", (None, 13, 13, 32)),
              stub("Flatten", "flatten", (None, 5408)),
              stub("Dropout", "dropout", (None, 5408)),
              stub("Dense", "dense", (None, 10), [(5408, 10), (10,)]),
              stub("BatchNormalization", "batch_normalization", (None, 10),
                   [(10,), (10,)], [(10,), (10,)])]
    x = Input(shape=(28, 28, 1))
    for layer in layers:
        x = layer([x])
    return SummaryModel("sequential", layers, [x], True)


def functional_model():
    inp = InputLayer(shape=(32,), name="inp")
    d1 = stub("Dense", "d1", (None, 16), [(32, 16), (16,)])
    long = stub("Dense", "a_very_long_dense_layer_name_here", (None, 16), [(32, 16), (16,)])
    add = stub("Add", "add", (None, 16))
    cat = stub("Concatenate", "concatenate", (None, 32))
    a = d1([inp.output])
    b = long([inp.output])
    c = add([a, b])
    out = cat([c, a])
    return SummaryModel("functional", [inp, d1, long, add, cat], [out], False)


KERAS_SEQUENTIAL_60 = """Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━┓
┃ Layer (type)          ┃ Output Shape     ┃ Param # ┃ Tr… ┃
┡━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━┩
│ conv2d (Conv2D)       │ (None, 26, 26,   │     320 │  Y  │
│                       │ 32)              │         │     │
├───────────────────────┼──────────────────┼─────────┼─────┤
│ max_pooling2d         │ (None, 13, 13,   │       0 │  -  │
│ (MaxPooling2D)        │ 32)              │         │     │
├───────────────────────┼──────────────────┼─────────┼─────┤
│ flatten (Flatten)     │ (None, 5408)     │       0 │  -  │
├───────────────────────┼──────────────────┼─────────┼─────┤
│ dropout (Dropout)     │ (None, 5408)     │       0 │  -  │
├───────────────────────┼──────────────────┼─────────┼─────┤
│ dense (Dense)         │ (None, 10)       │  54,090 │  Y  │
├───────────────────────┼──────────────────┼─────────┼─────┤
│ batch_normalization   │ (None, 10)       │      40 │  Y  │
│ (BatchNormalization)  │                  │         │     │
└───────────────────────┴──────────────────┴─────────┴─────┘
 Total params: 54,450 (212.70 KB)
 Trainable params: 54,430 (212.62 KB)
 Non-trainable params: 20 (80.00 B)
"""

KERAS_FUNCTIONAL_60 = """Model: "functional"
┏━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━┓
┃               ┃ Output      ┃  Param ┃ Connected   ┃     ┃
┃ Layer (type)  ┃ Shape       ┃      # ┃ to          ┃ Tr… ┃
┡━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━┩
│ inp           │ (None, 32)  │      0 │ -           │  -  │
│ (InputLayer)  │             │        │             │     │
├───────────────┼─────────────┼────────┼─────────────┼─────┤
│ d1 (Dense)    │ (None, 16)  │    528 │ inp[0][0]   │  Y  │
├───────────────┼─────────────┼────────┼─────────────┼─────┤
│ a_very_long_… │ (None, 16)  │    528 │ inp[0][0]   │  Y  │
│ (Dense)       │             │        │             │     │
├───────────────┼─────────────┼────────┼─────────────┼─────┤
│ add (Add)     │ (None, 16)  │      0 │ d1[0][0],   │  -  │
│               │             │        │ a_very_lon… │     │
├───────────────┼─────────────┼────────┼─────────────┼─────┤
│ concatenate   │ (None, 32)  │      0 │ add[0][0],  │  -  │
│ (Concatenate) │             │        │ d1[0][0]    │     │
└───────────────┴─────────────┴────────┴─────────────┴─────┘
 Total params: 1,056 (4.12 KB)
 Trainable params: 1,056 (4.12 KB)
 Non-trainable params: 0 (0.00 B)
"""


def _summary(model, **kwargs):
    printed = []
    print_summary(model, print_fn=printed.append, **kwargs)
    assert len(printed) == 1     # Keras hands print_fn the whole text at once
    return printed[0]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")


def test_sequential_summary_matches_keras():
    assert _summary(sequential_model(), line_length=60, show_trainable=True) == \
        KERAS_SEQUENTIAL_60


def test_functional_summary_matches_keras():
    assert _summary(functional_model(), line_length=60, show_trainable=True) == \
        KERAS_FUNCTIONAL_60


def test_default_widths_and_connected_column():
    seq_lines = _summary(sequential_model()).splitlines()
    assert len(seq_lines[1]) == 88 and "Connected to" not in seq_lines[2]
    func_lines = _summary(functional_model()).splitlines()
    assert len(func_lines[1]) == 108 and "Connected to" in func_lines[2]
    assert any("│ d1[0][0], a_very_long_dense_layer_name_here[0][0]" in line or
               "d1[0][0]," in line for line in func_lines)


def test_summary_to_stdout_and_layer_range():
    out = _capture(lambda: print_summary(functional_model(), layer_range=["d1", "add"]))
    assert "d1 (Dense)" in out and "add (Add)" in out
    assert "inp (InputLayer)" not in out and "concatenate" not in out


def test_optimizer_params_line():
    model = sequential_model()
    model.optimizer = type("Opt", (), {"variables": lambda self: [
        np.zeros((5408, 10), np.float32), np.zeros(10, np.float32)]})()
    text = _summary(model)
    assert " Optimizer params: 54,090 (211.29 KB)\n" in text
    assert " Total params: 108,540 (423.98 KB)\n" in text


def test_unbuilt_layer_shows_question_mark():
    layer = stub("Dense", "dense_x", (None, 3), [(7, 3)])
    text = _summary(SummaryModel("sequential", [layer], None, True))
    assert "│ dense_x (Dense)" in text and "?" in text and "0 (unbuilt)" in text


def test_readable_memory_size():
    assert readable_memory_size(80.0) == "80.00 B"
    assert readable_memory_size(217800.0) == "212.70 KB"
    assert readable_memory_size(11243457 * 4.0) == "42.89 MB"
