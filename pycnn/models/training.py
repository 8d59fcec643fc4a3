"""compile / fit / evaluate / predict and the *_on_batch calls (Keras 3 semantics).

One training step: forward (training=True) -> loss and its gradient -> backward
-> optimizer update -> state updates (BatchNormalization moving statistics) ->
metrics. The update happens only once every gradient is known to be finite and
shaped right, so a step that fails leaves the model as it was before it.
"""
import math
import warnings

import numpy as np

from pycnn.backend import StateUpdates
from pycnn.models import data_adapter


class Trainer:
    def __init__(self):
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._loss_fns = None
        self._metric_specs = None
        self._compile_metrics = None
        self._loss_tracker = None

    # ----- compile -----------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        from pycnn import losses as losses_mod
        from pycnn import metrics as metrics_mod
        from pycnn import optimizers as optimizers_mod

        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = loss
        self.loss_weights = loss_weights
        self._loss_fns = None
        if loss is not None:
            self._loss_fns = self._resolve_losses(loss, losses_mod)
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            raise TypeError(
                f"Expected `metrics` argument to be a list, tuple, or dict. "
                f"Received instead: metrics={metrics} of type {type(metrics)}")
        self._metric_specs = metrics
        self._compile_metrics = None
        self._loss_tracker = metrics_mod.Mean(name="loss")
        self.compiled = True
        self.stop_training = False

    def _resolve_losses(self, loss, losses_mod):
        n_out = len(self.outputs) if getattr(self, "outputs", None) else 1
        if isinstance(loss, dict):
            names = [t._keras_history[0].name for t in self.outputs]
            return [losses_mod.as_loss(loss[n]) if n in loss else None for n in names]
        if isinstance(loss, (list, tuple)):
            if len(loss) != n_out:
                raise ValueError(
                    f"Model '{self.name}' has {n_out} outputs but `loss` lists {len(loss)}")
            return [losses_mod.as_loss(l) for l in loss]
        fn = losses_mod.as_loss(loss)
        return [fn] * max(n_out, 1)

    @property
    def metrics(self):
        out = []
        if self._loss_tracker is not None:
            out.append(self._loss_tracker)
        if self._compile_metrics:
            out.extend(self._compile_metrics)
        return out

    @property
    def metrics_names(self):
        # Keras 3 groups compiled metrics under one name.
        names = ["loss"] if self._loss_tracker is not None else []
        if self._compile_metrics:
            names.append("compile_metrics")
        return names

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def _build_metrics(self, y_true, y_pred):
        from pycnn import metrics as metrics_mod
        specs = self._metric_specs
        if self._compile_metrics is not None:
            return
        if not specs:
            self._compile_metrics = []
            return
        if isinstance(specs, dict):
            specs = [m for v in specs.values() for m in (v if isinstance(v, (list, tuple))
                                                         else [v])]
        loss = self._loss_fns[0] if self._loss_fns else None
        self._compile_metrics = [
            metrics_mod.resolve_compile_metric(s, loss, y_true, y_pred)
            for s in specs if s is not None]

    def _require_compiled(self, what):
        if not self.compiled or self._loss_fns is None:
            raise RuntimeError(
                f"You must call `compile()` with a loss before calling `{what}()` "
                f"on model '{self.name}'.")

    # ----- one step ------------------------------------------------------------
    def _loss_and_grad(self, y, y_pred, sample_weight):
        ys = y if isinstance(y, list) else [y]
        preds = y_pred if isinstance(y_pred, list) else [y_pred]
        if len(ys) != len(preds):
            raise ValueError(
                f"Model '{self.name}' has {len(preds)} output(s) but received "
                f"{len(ys)} target array(s)")
        weights = self.loss_weights
        if isinstance(weights, dict):
            names = [t._keras_history[0].name for t in self.outputs]
            weights = [weights.get(n, 1.0) for n in names]
        total, grads = 0.0, []
        for i, (fn, yt, yp) in enumerate(zip(self._loss_fns, ys, preds)):
            if fn is None:
                grads.append(np.zeros_like(yp))
                continue
            w = 1.0 if weights is None else float(weights[i])
            value, g = fn.value_and_grad(yt, yp, sample_weight)
            total += w * float(value)
            grads.append(g if w == 1.0 else g * np.float32(w))
        return total, (grads if isinstance(y_pred, list) else grads[0])

    def _update_metrics(self, y, y_pred, sample_weight):
        y0 = y[0] if isinstance(y, list) else y
        p0 = y_pred[0] if isinstance(y_pred, list) else y_pred
        self._build_metrics(y0, p0)
        for m in self._compile_metrics:
            m.update_state(y0, p0, sample_weight=sample_weight)

    def _logs(self):
        return {m.name: float(m.result()) for m in self.metrics}

    def _train_step(self, x, y, sample_weight=None):
        with StateUpdates() as updates:
            y_pred, cache = self.forward(x, training=True)
            loss, dy = self._loss_and_grad(y, y_pred, sample_weight)
            _, grads = self.backward(cache, dy, need_dx=False)
        variables = self.trainable_weights
        if math.isfinite(loss) and all(np.isfinite(g).all() for g in grads):
            self.optimizer.apply(grads, variables)
            updates.apply()
        elif not getattr(self, "_warned_nonfinite", False):
            self._warned_nonfinite = True
            warnings.warn(
                f"Model '{self.name}': non-finite loss or gradients; this step's update "
                "was skipped, the weights keep their last finite values.", RuntimeWarning)
        n = data_adapter.batch_len(x)
        self._loss_tracker.update_state(loss, sample_weight=n)
        self._update_metrics(y, y_pred, sample_weight)
        return self._logs()

    def _test_step(self, x, y, sample_weight=None):
        y_pred, _ = self.forward(x, training=False)
        loss, _ = self._loss_and_grad(y, y_pred, sample_weight)
        self._loss_tracker.update_state(loss, sample_weight=data_adapter.batch_len(x))
        self._update_metrics(y, y_pred, sample_weight)
        return self._logs()

    # ----- public loops --------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None,
            validation_steps=None, validation_batch_size=None, validation_freq=1):
        from pycnn import callbacks as callbacks_mod
        self._require_compiled("fit")
        if validation_split and validation_data is None:
            if not data_adapter.is_array_data(x):
                raise ValueError("`validation_split` is only supported for NumPy arrays")
            (x, y, sample_weight), validation_data = data_adapter.train_validation_split(
                (x, y, sample_weight), validation_split)
        train = data_adapter.get_data_adapter(
            x, y, sample_weight, batch_size=batch_size, steps=steps_per_epoch,
            shuffle=shuffle, class_weight=class_weight, model=self, require_y=True,
            what="fit")
        self._prepare_for_data(train)
        val = None
        if validation_data is not None:
            vx, vy, vsw = data_adapter.unpack_validation(validation_data)
            val = data_adapter.get_data_adapter(
                vx, vy, vsw, batch_size=validation_batch_size or batch_size,
                steps=validation_steps, shuffle=False, model=self, require_y=True,
                what="fit (validation_data)")
        verbose = 1 if verbose == "auto" else verbose
        cbs = callbacks_mod.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=epochs, steps=train.num_batches)
        self.stop_training = False
        cbs.on_train_begin()
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            logs = {}
            for step, (xb, yb, swb) in enumerate(train.epoch_batches()):
                cbs.on_train_batch_begin(step)
                logs = self._train_step(xb, yb, swb)
                cbs.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = dict(logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_adapter(val, callbacks=cbs, verbose=0)
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            train.on_epoch_end()
            if self.stop_training:
                break
        cbs.on_train_end(epoch_logs)
        return self.history

    def _prepare_for_data(self, adapter):
        """Build an unbuilt Sequential from the data's shape before the first step."""
        if not self.built and hasattr(self, "_ensure_built"):
            first = adapter.peek_x()
            self._ensure_built(first[0] if isinstance(first, list) else first)

    def _evaluate_adapter(self, adapter, callbacks=None, verbose=0):
        self.reset_metrics()
        logs = {}
        for xb, yb, swb in adapter.epoch_batches():
            logs = self._test_step(xb, yb, swb)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, **kwargs):
        from pycnn import callbacks as callbacks_mod
        self._require_compiled("evaluate")
        data = data_adapter.get_data_adapter(
            x, y, sample_weight, batch_size=batch_size, steps=steps, shuffle=False,
            model=self, require_y=True, what="evaluate")
        self._prepare_for_data(data)
        verbose = 1 if verbose == "auto" else verbose
        cbs = callbacks_mod.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                         verbose=verbose, epochs=1, steps=data.num_batches)
        self.reset_metrics()
        cbs.on_test_begin()
        logs = {}
        for step, (xb, yb, swb) in enumerate(data.epoch_batches()):
            cbs.on_test_batch_begin(step)
            logs = self._test_step(xb, yb, swb)
            cbs.on_test_batch_end(step, logs)
        cbs.on_test_end(logs)
        return self._format_result(logs, return_dict)

    def _format_result(self, logs, return_dict):
        if return_dict:
            return dict(logs)
        values = [logs[m.name] for m in self.metrics if m.name in logs]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        from pycnn import callbacks as callbacks_mod
        data = data_adapter.get_data_adapter(
            x, None, None, batch_size=batch_size, steps=steps, shuffle=False, model=self,
            require_y=False, what="predict")
        self._prepare_for_data(data)
        verbose = 1 if verbose == "auto" else verbose
        cbs = callbacks_mod.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                         verbose=verbose, epochs=1, steps=data.num_batches)
        cbs.on_predict_begin()
        outs = []
        for step, (xb, _, _) in enumerate(data.epoch_batches()):
            cbs.on_predict_batch_begin(step)
            yb, _ = self.forward(xb, training=False)
            outs.append(yb)
            cbs.on_predict_batch_end(step, {"outputs": yb})
        cbs.on_predict_end()
        if not outs:
            raise ValueError(f"predict on model '{self.name}': the input has no samples")
        if isinstance(outs[0], list):
            return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
        return np.concatenate(outs)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        self._require_compiled("train_on_batch")
        xb, yb, swb = data_adapter.single_batch(x, y, sample_weight, class_weight, model=self,
                                                require_y=True, what="train_on_batch")
        if not self.built and hasattr(self, "_ensure_built"):
            self._ensure_built(xb[0] if isinstance(xb, list) else xb)
        self.reset_metrics()  # Keras 3 reports this batch alone
        logs = self._train_step(xb, yb, swb)
        return self._format_result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        xb, yb, swb = data_adapter.single_batch(x, y, sample_weight, None, model=self,
                                                require_y=True, what="test_on_batch")
        self.reset_metrics()
        logs = self._test_step(xb, yb, swb)
        return self._format_result(logs, return_dict)

    def predict_on_batch(self, x):
        xb, _, _ = data_adapter.single_batch(x, None, None, None, model=self,
                                             require_y=False, what="predict_on_batch")
        if not self.built and hasattr(self, "_ensure_built"):
            self._ensure_built(xb[0] if isinstance(xb, list) else xb)
        y, _ = self.forward(xb, training=False)
        return y

    # ----- saving ----------------------------------------------------------------
    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Architecture, weights, optimizer state and compile settings -> ``.keras``."""
        from pycnn import saving
        saving.save_model(self, filepath, overwrite=overwrite,
                          include_optimizer=kwargs.pop("include_optimizer", True))

    def save_weights(self, filepath, overwrite=True):
        """Weights (and optimizer state) in Keras 3's ``.weights.h5`` layout."""
        from pycnn import saving
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        from pycnn import saving
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    # ----- introspection ---------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        from pycnn.models.summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)
