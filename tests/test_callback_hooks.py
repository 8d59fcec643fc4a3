"""The hooks fit calls, in Keras 3's order: the validation pass runs the
on_test_* hooks (Keras runs it through evaluate). Sequence recorded from
Keras 3.15 for the same fit call."""
import numpy as np

import pycnn as keras


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin", sorted(logs or {})))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch, sorted(logs or {})))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, sorted(logs or {})))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("tb_end", batch, sorted(logs or {})))

    def on_test_begin(self, logs=None):
        self.events.append(("test_begin",))

    def on_test_end(self, logs=None):
        self.events.append(("test_end", sorted(logs or {})))

    def on_test_batch_end(self, batch, logs=None):
        self.events.append(("vb_end", batch, sorted(logs or {})))

    def on_train_end(self, logs=None):
        self.events.append(("train_end", sorted(logs or {})))


def test_fit_runs_test_hooks_for_validation():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1, activation="sigmoid")])
    m.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    rec = Recorder()
    m.fit(np.ones((20, 6), "float32"), np.ones((20, 1), "float32"), epochs=1, batch_size=8,
          verbose=0, callbacks=[rec], validation_split=0.25)
    metrics, val = ["accuracy", "loss"], ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert rec.events == [
        ("train_begin", []), ("epoch_begin", 0, []), ("tb_end", 0, metrics),
        ("tb_end", 1, metrics), ("test_begin",), ("vb_end", 0, metrics),
        ("test_end", metrics), ("epoch_end", 0, val), ("train_end", val)]
