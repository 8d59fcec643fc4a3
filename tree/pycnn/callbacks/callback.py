"""Callback base class and CallbackList (``keras.callbacks``)."""
import sys


def print_msg(message, line_break=True):
    """Keras's io_utils.print_msg: straight to stdout, flushed."""
    sys.stdout.write(f"{message}\n" if line_break else str(message))
    sys.stdout.flush()


def pythonify_logs(logs):
    """Logs flattened, sorted by key and converted to Python floats where
    possible, exactly as Keras hands them to callbacks (hence the
    alphabetical 'accuracy: ... - loss: ...' order of the progress bar)."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass
        result[key] = value
    return result


class Callback:
    """Base class for callbacks; every hook is a no-op by default.

    ``self.model`` is the model being trained, ``self.params`` the dict
    ``{'verbose', 'epochs', 'steps'}`` set by ``fit``.
    """

    def __init__(self):
        self.params = None
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None):
        """Old name of on_train_batch_begin (still called by it)."""

    def on_batch_end(self, batch, logs=None):
        """Old name of on_train_batch_end (still called by it)."""

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


def _flatten(callbacks):
    out = []
    for cb in callbacks:
        if isinstance(cb, (list, tuple)):
            out.extend(_flatten(cb))
        else:
            out.append(cb)
    return out


class CallbackList(Callback):
    """Calls every hook on a list of callbacks, in order.

    ``add_history`` / ``add_progbar`` append a History / ProgbarLogger unless
    the list already has one (as ``fit`` does).
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False,
                 model=None, **params):
        super().__init__()
        self.callbacks = _flatten(callbacks) if callbacks else []
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"Expected a keras Callback instance, received: {cb!r} of type "
                    f"{type(cb)}")
        self._add_default_callbacks(add_history, add_progbar)
        self.set_model(model)
        self.set_params(params)

    def _add_default_callbacks(self, add_history, add_progbar):
        from pycnn.callbacks.history import History, ProgbarLogger
        self._progbar = None
        self._history = None
        for cb in self.callbacks:
            if isinstance(cb, ProgbarLogger):
                self._progbar = cb
            elif isinstance(cb, History):
                self._history = cb
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_params(self, params):
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def set_model(self, model):
        if not model:
            return
        super().set_model(model)
        if self._history:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def _call_all(self, hook, *args):
        logs = pythonify_logs(args[-1])
        for cb in self.callbacks:
            getattr(cb, hook)(*args[:-1], logs)

    def on_batch_begin(self, batch, logs=None):
        self._call_all("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._call_all("on_batch_end", batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call_all("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call_all("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call_all("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call_all("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call_all("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call_all("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call_all("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call_all("on_predict_batch_end", batch, logs)

    def on_train_begin(self, logs=None):
        self._call_all("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call_all("on_train_end", logs)

    def on_test_begin(self, logs=None):
        self._call_all("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call_all("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._call_all("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call_all("on_predict_end", logs)
