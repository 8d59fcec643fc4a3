"""compile / fit / evaluate / predict and the *_on_batch calls (Keras 3 semantics).

One training step: forward (training=True) -> loss and its gradient -> backward
-> optimizer update -> state updates (BatchNormalization moving statistics) ->
metrics. The update happens only once every gradient is known to be finite and
shaped right, so a step that fails leaves the model as it was before it.
"""
import math
import warnings

import numpy as np

from pycnn._threads import model_lock
from pycnn.backend import StateUpdates
from pycnn.layers import activity
from pycnn.layers.fused import LogitsGrad
from pycnn.models import data_adapter
from pycnn.ops.outer_grad import outer_grads


def _unique_log_name(name, weighted, taken, output=None):
    """The log key Keras's CompileMetrics.result gives a metric: a repeated
    name gets "_1", "_2", ...; a weighted metric whose name is taken becomes
    "weighted_<name>" (after the output's prefix) first."""
    key = name
    if key in taken and weighted:
        key = f"{output}_weighted_{name[len(output) + 1:]}" if output else f"weighted_{name}"
    base, index = key, 1
    while key in taken:
        key, index = f"{base}_{index}", index + 1
    taken.add(key)
    return key


def _regularization(weights, grads=None):
    """(penalty, grads): as Keras, the loss includes the trainable weights'
    regularization penalties (pycnn.regularizers) and, given the gradients
    (aligned to ``weights``), each penalty's gradient is added to its weight's."""
    penalty, copied = 0.0, False
    for i, var in enumerate(weights):
        reg = var.regularizer
        if reg is None:
            continue
        penalty += reg(var.value)
        if grads is not None:
            if not copied:   # the backward pass's list stays as it was
                grads, copied = list(grads), True
            grads[i] = grads[i] + reg.gradient(var.value)
    return penalty, grads


def _all_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


class Trainer:
    def __init__(self):
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._loss_fns = None
        self._metric_specs = None
        self._weighted_metric_specs = None
        self._compile_metrics = None
        self._metric_slots = []
        self._loss_tracker = None
        self._output_loss_trackers = []

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
            raise ValueError(
                f"Expected `metrics` argument to be a list, tuple, or dict. "
                f"Received instead: metrics={metrics} of type {type(metrics)}")
        if weighted_metrics is not None and not isinstance(weighted_metrics, (list, tuple, dict)):
            raise ValueError(
                f"Expected `weighted_metrics` argument to be a list, tuple, or dict. "
                f"Received instead: weighted_metrics={weighted_metrics} of type "
                f"{type(weighted_metrics)}")
        self._metric_specs = metrics
        self._weighted_metric_specs = weighted_metrics
        self._compile_metrics = None
        self._loss_tracker = metrics_mod.Mean(name="loss")
        # Keras 3 tracks each output's (unweighted) loss as "<output>_loss".
        names = self._output_names()
        self._output_loss_trackers = [metrics_mod.Mean(name=f"{n}_loss") for n in names] \
            if len(names) > 1 else []
        self.compiled = True
        self.stop_training = False

    def _output_names(self):
        outputs = getattr(self, "outputs", None) or []
        return [t._keras_history[0].name for t in outputs]

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
        out.extend(getattr(self, "_output_loss_trackers", []))
        if self._compile_metrics:
            out.extend(self._compile_metrics)
        return out

    @property
    def metrics_names(self):
        # Keras 3 groups compiled metrics under one name.
        names = ["loss"] if self._loss_tracker is not None else []
        if self._compile_metrics:
            names.append("compile_metrics")
        names.extend(m.name for m in getattr(self, "_output_loss_trackers", []))
        return names

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def _metric_specs_per_output(self, specs):
        """The compiled metrics as one list per output (Keras's accepted forms:
        a list for one output, a list of lists or a dict by output name)."""
        names = self._output_names() or ["output"]
        if not specs:
            return [[] for _ in names]
        if isinstance(specs, dict):
            unknown = set(specs) - set(names)
            if unknown:
                raise ValueError(f"Model '{self.name}': `metrics` names unknown outputs "
                                 f"{sorted(unknown)}; outputs are {names}")
            per = [specs.get(n, []) for n in names]
        elif len(names) == 1:
            per = [specs]
        elif all(isinstance(s, (list, tuple)) or s is None for s in specs) and \
                len(specs) == len(names):
            per = specs
        elif len(specs) == len(names):
            per = [[s] for s in specs]
        else:
            raise ValueError(
                f"Model '{self.name}' has {len(names)} outputs: pass `metrics` as a list "
                f"of {len(names)} lists or a dict keyed by output name, got {specs!r}")
        return [[] if p is None else (list(p) if isinstance(p, (list, tuple)) else [p])
                for p in per]

    def _build_metrics(self, ys, preds):
        from pycnn import metrics as metrics_mod
        if self._compile_metrics is not None:
            return
        names = self._output_names()
        # (output index, metric, weighted, log key): as Keras, `metrics` ignore
        # sample and class weights, `weighted_metrics` use them.
        self._metric_slots = []
        taken = set()
        for weighted, all_specs in ((False, self._metric_specs),
                                    (True, self._weighted_metric_specs)):
            for i, specs in enumerate(self._metric_specs_per_output(all_specs)):
                loss = self._loss_fns[i] if self._loss_fns else None
                for spec in specs:
                    m = metrics_mod.resolve_compile_metric(spec, loss, ys[i], preds[i])
                    if len(names) > 1:
                        m.name = f"{names[i]}_{m.name}"
                    key = _unique_log_name(m.name, weighted, taken,
                                           names[i] if len(names) > 1 else None)
                    self._metric_slots.append((i, m, weighted, key))
        self._compile_metrics = [slot[1] for slot in self._metric_slots]

    def _require_compiled(self, what):
        # ValueError with Keras's messages (Keras raises ValueError for both).
        if not self.compiled:
            raise ValueError(
                f"You must call `compile()` before using the model (`{what}()` on model "
                f"'{self.name}').")
        if self._loss_fns is None:
            raise ValueError(
                f"No loss to compute. Provide a `loss` argument in `compile()` (`{what}()` "
                f"on model '{self.name}').")

    # ----- one step ------------------------------------------------------------
    def _loss_and_grad(self, y, y_pred, sample_weight, logits_layer=None):
        """(total loss, d loss / d outputs). With ``logits_layer`` (the single
        output's layer, see _logits_grad_layer) the loss may return the
        gradient w.r.t. that layer's pre-activation instead, wrapped in
        fused.LogitsGrad, when its kernel can go through the activation."""
        if type(y_pred) is not list and type(y) is not list and logits_layer is not None:
            fn = self._loss_fns[0]
            if fn is not None and self.loss_weights is None:
                fused_out = fn.value_and_logits_grad(y, y_pred, logits_layer.takes_logits_grad,
                                                     sample_weight)
                if fused_out is not None:
                    value, g = fused_out
                    self._last_output_losses = (value,)
                    return value, LogitsGrad(g)
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
        total, grads, per_output = 0.0, [], []
        for i, (fn, yt, yp) in enumerate(zip(self._loss_fns, ys, preds)):
            if fn is None:
                grads.append(np.zeros_like(yp))
                per_output.append(0.0)
                continue
            w = 1.0 if weights is None else float(weights[i])
            value, g = fn.value_and_grad(yt, yp, sample_weight)
            total += w * float(value)
            per_output.append(float(value))
            grads.append(g if w == 1.0 else g * np.float32(w))
        self._last_output_losses = per_output
        return total, (grads if isinstance(y_pred, list) else grads[0])

    def _logits_grad_layer(self):
        """The output layer when it can take d loss / d logits directly (a
        Sequential ending in Dense(..., activation="softmax")): its output is
        the model's only output and feeds nothing else. None otherwise."""
        stack = getattr(self, "_stack", None)
        if not getattr(self, "_is_sequential", False) or not stack:
            return None
        last = stack[-1]
        if activity.regularized(last):  # its penalty needs the output's own gradient
            return None
        return last if getattr(last, "takes_logits_grad", None) else None

    def _has_activity_regularizers(self):
        """Whether a layer (nested models included) has an activity_regularizer."""
        return any(activity.regularized(layer) for layer in _all_layers(self))

    def _update_metrics(self, y, y_pred, sample_weight, batch_size):
        self._loss_tracker.update_state(self._last_loss, sample_weight=batch_size)
        for tracker, value in zip(self._output_loss_trackers, self._last_output_losses):
            tracker.update_state(value, sample_weight=batch_size)
        if self._compile_metrics is None:
            ys = y if isinstance(y, list) else [y]
            preds = y_pred if isinstance(y_pred, list) else [y_pred]
            self._build_metrics(ys, preds)
        if not self._metric_slots:
            return
        if type(y) is not list and type(y_pred) is not list:
            for _, m, weighted, _ in self._metric_slots:  # one output: index 0
                m.update_state(y, y_pred, sample_weight=sample_weight if weighted else None)
            return
        ys = y if isinstance(y, list) else [y]
        preds = y_pred if isinstance(y_pred, list) else [y_pred]
        for i, m, weighted, _ in self._metric_slots:
            m.update_state(ys[i], preds[i], sample_weight=sample_weight if weighted else None)

    def _logs(self):
        trackers = [self._loss_tracker, *self._output_loss_trackers]
        logs = {m.name: float(m.result()) for m in trackers}
        logs.update((key, float(m.result())) for _, m, _, key in self._metric_slots)
        return logs

    def _train_step(self, x, y, sample_weight=None):
        # Exclusive: predicts in other threads wait for the weight update.
        with model_lock(self).write():
            return self._train_step_locked(x, y, sample_weight)

    def _train_step_locked(self, x, y, sample_weight):
        with StateUpdates() as updates:
            with activity.penalties() as activity_penalty:
                y_pred, cache = self.forward(x, training=True)
            loss, dy = self._loss_and_grad(y, y_pred, sample_weight, self._logits_grad_layer())
            loss += activity_penalty.total
            sums_pairs = getattr(self.optimizer, "_sums_outer_grads", None)
            with outer_grads(sums_pairs is not None and sums_pairs()):
                _, grads = self.backward(cache, dy, need_dx=False)
        weights = self.trainable_weights
        penalty, grads = _regularization(weights, grads)
        loss += penalty
        # The optimizer checks every gradient (shape, finite) before it writes
        # anything and reports non-finite ones: a failed step changes nothing.
        if math.isfinite(loss) and self.optimizer._apply(grads, weights):
            updates.apply()
        elif not getattr(self, "_warned_nonfinite", False):
            self._warned_nonfinite = True
            warnings.warn(
                f"Model '{self.name}': non-finite loss or gradients; this step's update "
                "was skipped, the weights keep their last finite values.", RuntimeWarning)
        self._last_loss = loss
        self._update_metrics(y, y_pred, sample_weight, data_adapter.batch_len(x))
        return self._logs()

    def _test_step(self, x, y, sample_weight=None):
        with model_lock(self).read(), activity.penalties() as activity_penalty:
            # Activity penalties need the regularized layers' outputs, which
            # the fused inference plan may never hold: the layer-by-layer pass.
            y_pred = self.forward(x, training=False)[0] if self._has_activity_regularizers() \
                else self._forward_inference(x)
        loss, _ = self._loss_and_grad(y, y_pred, sample_weight)
        self._last_loss = loss + activity_penalty.total + \
            _regularization(self.trainable_weights)[0]
        self._update_metrics(y, y_pred, sample_weight, data_adapter.batch_len(x))
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
        train.carry_over = True
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
        if epochs > initial_epoch:   # as Keras: EMA weights replace the trained ones
            self.optimizer.finalize_variable_values(self.trainable_weights)
        cbs.on_train_end(epoch_logs)
        return self.history

    def _prepare_for_data(self, adapter):
        """Build an unbuilt Sequential from the data's shape before the first step."""
        if not self.built and hasattr(self, "_ensure_built"):
            first = adapter.peek_x()
            self._ensure_built(first[0] if isinstance(first, list) else first)

    def _evaluate_adapter(self, adapter, callbacks=None, verbose=0):
        # fit's validation pass: Keras runs it through evaluate, so the
        # callbacks see on_test_begin / on_test_batch_* / on_test_end.
        self.reset_metrics()
        logs = {}
        if callbacks is not None:
            callbacks.on_test_begin()
        for step, (xb, yb, swb) in enumerate(adapter.epoch_batches()):
            if callbacks is not None:
                callbacks.on_test_batch_begin(step)
            logs = self._test_step(xb, yb, swb)
            if callbacks is not None:
                callbacks.on_test_batch_end(step, logs)
        if callbacks is not None:
            callbacks.on_test_end(logs)
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
        # Keras's _flatten_metrics_in_order: the loss, the compiled metrics in
        # order (single output), the per-output losses, then the rest by name.
        order = ["loss"]
        if len(self._output_names()) <= 1:
            order += [m.name for m in self._compile_metrics or []]
        order += [m.name for m in self._output_loss_trackers]
        values = [logs[name] for name in order if name in logs]
        values += [logs[k] for k in sorted(logs) if k not in order]
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
            with model_lock(self).read():
                yb = self._forward_inference(xb)
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
        if type(x) is np.ndarray and hasattr(self, "_predict_compiled"):
            y = self._predict_compiled(x)
            if y is not None:
                return y
        xb, _, _ = data_adapter.single_batch(x, None, None, None, model=self,
                                             require_y=False, what="predict_on_batch")
        if not self.built and hasattr(self, "_ensure_built"):
            self._ensure_built(xb[0] if isinstance(xb, list) else xb)
        with model_lock(self).read():
            y = self._forward_inference(xb)
        return y

    # ----- saving ----------------------------------------------------------------
    def __reduce__(self):
        # pickle / deepcopy go through the .keras archive (pycnn/_pickle.py).
        from pycnn import _pickle
        return _pickle.reduce_model(self)

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

    def export(self, filepath, format="onnx", **kwargs):
        """The inference graph as an ONNX file (``format='onnx'``; needs ``onnx``)."""
        if format != "onnx":
            raise ValueError(f"Model.export: unsupported format {format!r}; pycnn exports "
                             "format='onnx'")
        from pycnn.export import export_onnx
        return export_onnx(self, filepath, **kwargs)

    def to_json(self, **kwargs):
        """The architecture as Keras's JSON (``keras.models.model_from_json``)."""
        import json
        from pycnn.saving.serialize import serialize_layer
        return json.dumps(serialize_layer(self), **kwargs)

    # ----- introspection ---------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        from pycnn.models.summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)
