"""The ``Optimizer`` base class (Keras 3 API) driving the fused C++ updates.

A step checks every gradient first (shape and finiteness) and raises
``ValueError`` before touching anything, so a failed step leaves the weights
and the optimizer state exactly as they were. Slot arrays are created lazily
per variable on first use and updated in place by one kernel call each.
"""
import warnings

import numpy as np

from pycnn import _C, backend
from pycnn.ops.outer_grad import OuterProductGrad, materialized
from pycnn.optimizers.schedules import LearningRateSchedule
from pycnn.optimizers import schedules as schedules_module


def _as_float32_scalar(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(
            f"Argument `{what}` should be float, or an instance of LearningRateSchedule, or a "
            f"callable (that takes in the current iteration value and returns the "
            f"corresponding learning rate value). Received instead: {what}={value!r}")
    return np.float32(value)


def _apply_constraints(variables):
    """Project each updated variable that has a constraint (pycnn.constraints),
    after the step, as Keras's optimizer does."""
    for v in variables:
        if v.constraint is not None:
            v.assign(v.constraint(v._value))


class Optimizer:
    # Subclasses: the initial slot value, and _slot_groups() below.
    _slot_initial_value = 0.0

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}")
        self.name = name or backend.unique_name(backend.to_snake_case(type(self).__name__))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = bool(use_ema)
        if self.use_ema and not 0 <= ema_momentum <= 1:
            raise ValueError("`ema_momentum` must be in the range [0, 1]. "
                             f"Received: ema_momentum={ema_momentum}")
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self._averages = {}   # use_ema: id(variable) -> moving average (ndarray)
        self.loss_scale_factor = loss_scale_factor
        if gradient_accumulation_steps and (
                not isinstance(gradient_accumulation_steps, int) or
                gradient_accumulation_steps < 2):
            raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. Received: "
                             f"gradient_accumulation_steps={gradient_accumulation_steps}")
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._accumulated, self._accumulated_count = None, 0
        self.iterations = 0
        self._learning_rate = None
        self.learning_rate = learning_rate
        # id(variable) -> (variable, [slot Variables]); dict order = build order.
        self._slots = {}
        self._exclude_from_decay_ids = set()
        self._exclude_from_decay_names = ()

    # ------------------------------------------------------ learning rate ---
    @property
    def learning_rate(self):
        """The rate for the next step (a schedule is evaluated at ``iterations``)."""
        return float(self._current_learning_rate())

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule) or (callable(value) and not isinstance(
                value, (int, float, np.number))):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not "
                "settable. If you need the learning rate to be settable, you should "
                "instantiate the optimizer with a float `learning_rate` argument.")
        self._learning_rate = _as_float32_scalar(value, "learning_rate")

    def _current_learning_rate(self):
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return np.float32(lr(self.iterations))
        if callable(lr):
            return np.float32(lr())
        return lr

    # -------------------------------------------------------------- slots ---
    @property
    def built(self):
        """True once build() ran (Keras builds on the first update)."""
        return getattr(self, "_built", False)

    def build(self, variables):
        """Create the slot arrays of every variable not seen yet (in order)."""
        self._built = True
        self._fused_state = None
        for variable in variables:
            if id(variable) not in self._slots:
                self._slots[id(variable)] = (variable, self._new_slots(variable))

    def _new_slots(self, variable):
        prefix = str(getattr(variable, "path", variable.name)).replace("/", "_")
        return {slot: backend.Variable(np.full(variable.shape, self._slot_initial_value,
                                               np.float32),
                                       name=f"{prefix}_{slot}", trainable=False,
                                       path=f"{self.name}/{prefix}_{slot}")
                for slot in self._active_slot_names()}

    def _slot_groups(self):
        """Slot names as Keras creates them: each group is interleaved per
        variable (m1, v1, m2, v2), groups follow one another."""
        return ()

    def _active_slot_names(self):
        return tuple(name for group in self._slot_groups() for name in group)

    def _ordered_slots(self):
        return [slots[name] for group in self._slot_groups()
                for _, slots in self._slots.values() for name in group]

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        if self._slots:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before the "
                             "optimizer is built.")
        self._exclude_from_decay_ids = {id(v) for v in (var_list or ())}
        self._exclude_from_decay_names = tuple(var_names or ())

    def _uses_weight_decay(self, variable):
        if id(variable) in self._exclude_from_decay_ids:
            return False
        return not any(name in variable.name for name in self._exclude_from_decay_names)

    # -------------------------------------------------------------- steps ---
    def apply_gradients(self, grads_and_vars):
        """Apply ``[(gradient, variable), ...]``; returns ``iterations``."""
        grads_and_vars = list(grads_and_vars)
        grads = [g for g, _ in grads_and_vars]
        variables = [v for _, v in grads_and_vars]
        return self.apply(grads, variables)

    def apply(self, grads, trainable_variables=None):
        """Apply ``grads`` to ``trainable_variables`` (in place); returns ``iterations``."""
        if not self._apply(grads, trainable_variables):
            # Only reached on the fast path; the checker names the variable.
            for g, v in zip(grads, self._fused_state[0]):
                self._checked_gradient(g, v)
        return self.iterations

    def _apply(self, grads, trainable_variables=None):
        """One step; False (nothing changed) when a gradient is not finite.

        Fast path (no clipping, no None gradients): one ``_C.optimizer_step``
        call checks every gradient (shape, finiteness) and then updates all
        variables and slots; the per-variable argument lists are cached while
        the variable list stays the same.
        """
        grads = grads if isinstance(grads, list) else list(grads)
        if trainable_variables is None:
            if not self._slots:
                raise ValueError("When passing `grads` without `variables`, the optimizer "
                                 "must already be built on a list of variables.")
            trainable_variables = [v for v, _ in self._slots.values()]
        elif not isinstance(trainable_variables, list):
            trainable_variables = list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(
                f"Optimizer {self.name!r}: got {len(grads)} gradients for "
                f"{len(trainable_variables)} variables")
        if self.gradient_accumulation_steps:
            grads = self._accumulate(grads)
            if grads is None:
                return True   # a step that only accumulates: the variables stay
            if grads is False:
                return False
        clipping = bool(self.clipnorm or self.global_clipnorm or self.clipvalue)
        given = grads
        slow = clipping or any(g is None for g in grads)
        if self._fused_kind == 1 and not slow:
            # Adam's fused step sums a^T b pairs itself (adam_update_outer).
            grads = [(g.a, g.b) if type(g) is OuterProductGrad else g for g in grads]
        else:
            grads = materialized(grads)
        if slow:
            # Checked (raising) one by one, then clipped: the slow path.
            pairs = [(self._checked_gradient(g, v), v)
                     for g, v in zip(grads, trainable_variables) if g is not None]
            if not pairs:
                return True
            grads = self._clip_gradients([g for g, _ in pairs])
            trainable_variables = [v for _, v in pairs]
        lr = self._current_learning_rate()
        if self._fused_kind is None:  # a subclass with its own per-variable _update
            return self._apply_per_variable(grads, trainable_variables, lr)
        state = self._fused_arguments(trainable_variables)
        decay = 0.0 if self.weight_decay is None else float(np.float32(self.weight_decay) * lr)
        try:
            bad = _C.optimizer_step(self._fused_kind, state[1], grads, state[2],
                                    self._fused_hyper(lr), self.iterations + 1, decay, state[3])
        except (TypeError, ValueError):
            # Re-check in Python for Keras-style messages naming the variable.
            for g, v in zip(given, trainable_variables):
                self._checked_gradient(g, v)
            raise
        if bad >= 0:
            return False
        for v in state[0]:
            v._version += 1
        self._after_update(state[0])
        return True

    def _accumulate(self, grads):
        """gradient_accumulation_steps=n, as Keras: each call adds the gradients
        to the sums; every n-th returns their mean for the update (else None;
        False for a non-finite gradient, which changes nothing). ``iterations``
        counts updates, as Keras's does."""
        grads = materialized(grads)
        if not all(g is None or np.isfinite(np.asarray(g)).all() for g in grads):
            return False
        if self._accumulated is None or len(self._accumulated) != len(grads):
            self._accumulated = [None] * len(grads)
        self._accumulated = [a if g is None else (np.array(g, np.float32) if a is None else a + g)
                             for a, g in zip(self._accumulated, grads)]
        self._accumulated_count += 1
        if self._accumulated_count < self.gradient_accumulation_steps:
            return None
        n = np.float32(self.gradient_accumulation_steps)
        out = [None if a is None else a / n for a in self._accumulated]
        self._accumulated, self._accumulated_count = None, 0
        return out

    def _after_update(self, variables):
        """Keras's order after the update: moving averages (use_ema), their
        periodic overwrite, the step count, then the constraints."""
        if self.use_ema:
            momentum = self.ema_momentum if self.iterations != 0 else 0.0
            for v in variables:
                avg = self._averages.get(id(v))
                if avg is None:
                    avg = self._averages[id(v)] = np.zeros_like(v._value)
                avg *= np.float32(momentum)
                avg += np.float32(1 - momentum) * v._value
            if self.ema_overwrite_frequency and \
                    (self.iterations + 1) % self.ema_overwrite_frequency == 0:
                self.finalize_variable_values(variables)
        self.iterations += 1
        _apply_constraints(variables)

    def finalize_variable_values(self, var_list):
        """With use_ema, set the variables to their moving averages (fit does
        this at its end, as Keras's)."""
        if not self.use_ema:
            return
        for v in var_list:
            avg = self._averages.get(id(v))
            if avg is not None:
                v.assign(avg)

    def _sums_outer_grads(self):
        """Whether a training step may hand this optimizer OuterProductGrad
        pairs it sums itself: Adam's fused step, without clipping."""
        return self._fused_kind == 1 and type(self)._apply is Optimizer._apply and not (
            self.clipnorm or self.global_clipnorm or self.clipvalue)

    def _apply_per_variable(self, grads, variables, lr):
        grads = [self._checked_gradient(g, v) for g, v in zip(grads, variables)]
        self.build(variables)
        for grad, variable in zip(grads, variables):
            decay = 0.0
            if self.weight_decay is not None and self._uses_weight_decay(variable):
                decay = float(np.float32(self.weight_decay) * lr)
            slots = [s._value for s in self._slots[id(variable)][1].values()]
            self._update(variable._value, grad, slots, lr, decay)
            variable._version += 1
        self._after_update(variables)
        return True

    def _fused_arguments(self, variables):
        """(variables, param arrays, slot lists, decay mask) for optimizer_step,
        rebuilt only when the variable list changes."""
        state = getattr(self, "_fused_state", None)
        if state is not None and state[0] == variables:
            return state
        self.build(variables)
        params = [v._value for v in variables]
        slot_lists = [[self._slots[id(v)][1][name]._value for v in variables]
                      if name is not None else None for name in self._fused_slot_names()]
        flags = [self._uses_weight_decay(v) for v in variables]
        mask = None if all(flags) else flags
        self._fused_state = (list(variables), params, slot_lists, mask)
        return self._fused_state

    # Subclasses: the optimizer_step kind, slot names in its order (None for
    # an option that is off) and its hyperparameters (see csrc/optim/optim.hpp).
    _fused_kind = None

    def _fused_slot_names(self):
        raise NotImplementedError

    def _fused_hyper(self, lr):
        raise NotImplementedError

    def _checked_gradient(self, grad, variable):
        """float32 C-contiguous gradient, or ValueError (nothing changed yet)."""
        path = getattr(variable, "path", getattr(variable, "name", "?"))
        value = getattr(variable, "_value", None)
        if not isinstance(value, np.ndarray) or value.dtype != np.float32 \
                or not value.flags.c_contiguous or not value.flags.writeable:
            raise TypeError(f"Optimizer {self.name!r}: variable {path!r} must hold a writeable "
                            "float32 C-contiguous array")
        g = np.ascontiguousarray(grad.numpy() if hasattr(grad, "numpy") else grad,
                                 dtype=np.float32)
        if g.shape != value.shape:
            raise ValueError(
                f"Optimizer {self.name!r}: gradient shape {g.shape} does not match variable "
                f"{path!r} of shape {value.shape}")
        if not np.isfinite(g).all():
            raise ValueError(
                f"Optimizer {self.name!r}: gradient for variable {path!r} (shape {g.shape}) "
                "contains NaN or infinite values; no weights were updated")
        return g

    def _clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            return [self._clip_by_norm(g) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            norm = np.float32(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64)))
                                          for g in grads)))
            clip = np.float32(self.global_clipnorm)
            scale = clip * min(np.float32(1.0) / norm if norm else np.float32(np.inf),
                               np.float32(1.0) / clip)
            return [g * np.float32(scale) for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            v = np.float32(self.clipvalue)
            return [np.clip(g, -v, v) for g in grads]
        return grads

    def _clip_by_norm(self, g):
        norm = np.float32(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
        clip = np.float32(self.clipnorm)
        return (g * clip) / max(norm, clip)

    def _update(self, param, grad, slots, lr, decay):
        """One fused kernel call updating ``param`` and ``slots`` in place."""
        raise NotImplementedError

    # -------------------------------------------------------------- state ---
    @property
    def variables(self):
        """Keras order: iteration, learning_rate (unless a schedule), then the
        slots of each variable in build order (interleaved per variable)."""
        state = [backend.Variable(np.float32(self.iterations), name="iteration",
                                  trainable=False, path=f"{self.name}/iteration")]
        if not isinstance(self._learning_rate, LearningRateSchedule) \
                and not callable(self._learning_rate):
            state.append(backend.Variable(self._learning_rate, name="learning_rate",
                                          trainable=False, path=f"{self.name}/learning_rate"))
        return state + self._ordered_slots()

    def get_state(self):
        """The optimizer state as NumPy arrays, in ``variables`` order
        (iterations as int64)."""
        state = [np.array(self.iterations, np.int64)]
        state += [v.numpy() for v in self.variables[1:]]
        return state

    def set_state(self, state, variables=None):
        """Restore ``get_state()`` output; ``variables`` (the model's trainable
        variables, in order) builds the slots first when needed."""
        if variables is not None:
            self.build(variables)
        expected = len(self.variables)
        state = list(state)
        if len(state) != expected:
            raise ValueError(
                f"Optimizer {self.name!r}: state has {len(state)} arrays, expected {expected} "
                "(build the optimizer on the model's variables first)")
        targets = self.variables
        for target, value in zip(targets[1:], state[1:]):
            if np.shape(value) != target.shape:
                raise ValueError(
                    f"Optimizer {self.name!r}: state array for {target.path!r} has shape "
                    f"{np.shape(value)}, expected {target.shape}")
        self.iterations = int(np.asarray(state[0]))
        rest = state[1:]
        if len(targets) > 1 and targets[1].name == "learning_rate":
            self._learning_rate = np.float32(rest[0])
            rest = rest[1:]
        for slot, value in zip(self._ordered_slots(), rest):
            slot.assign(value)

    # ------------------------------------------------------------- config ---
    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = schedules_module.serialize(lr)
        elif not callable(lr):
            lr = float(lr)
        return {
            "name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue, "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules_module.deserialize(
                config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}, iterations={self.iterations}>"
