"""Learning-rate schedules (``keras.optimizers.schedules``): ``schedule(step)``
gives the learning rate for optimizer step ``step`` (float32 arithmetic)."""
import math

import numpy as np

_f32 = np.float32


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step)`` and ``get_config``."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _check_decay_steps(decay_steps):
    if decay_steps <= 0:
        raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored
    exponent when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        p = _f32(step) / _f32(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return _f32(self.initial_learning_rate) * np.power(_f32(self.decay_rate), p, dtype=np.float32)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` for ``boundaries[i-1] < step <= boundaries[i]``."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        index = int(np.searchsorted(np.asarray(self.boundaries), step, side="left"))
        return _f32(self.values[index])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from the initial (or warm-up target) rate to ``alpha`` times
    it over ``decay_steps``, after an optional linear warm-up."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step, decay_from):
        fraction = step / _f32(self.decay_steps)
        cosine = _f32(0.5) * (_f32(1.0) + np.cos(_f32(math.pi) * fraction, dtype=np.float32))
        decayed = (_f32(1.0) - _f32(self.alpha)) * cosine + _f32(self.alpha)
        return _f32(decay_from) * decayed

    def __call__(self, step):
        step = _f32(step)
        initial = _f32(self.initial_learning_rate)
        if self.warmup_target is None:
            return self._decay(min(step, _f32(self.decay_steps)), initial)
        warmup_steps = _f32(self.warmup_steps)
        step = min(step, _f32(self.decay_steps) + warmup_steps)
        if step < warmup_steps:
            delta = _f32(self.warmup_target) - initial
            return delta * (step / warmup_steps) + initial
        return self._decay(step - warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        p = _f32(step) / _f32(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return _f32(self.initial_learning_rate) / (_f32(1.0) + _f32(self.decay_rate) * p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, the step
    capped at decay_steps (or, with ``cycle``, decay_steps stretched to the
    next multiple above the step)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False, name="PolynomialDecay"):
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        step, decay_steps = _f32(step), _f32(self.decay_steps)
        if self.cycle:
            decay_steps = decay_steps * (_f32(1.0) if step == 0 else np.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        span = _f32(self.initial_learning_rate) - _f32(self.end_learning_rate)
        return span * np.power(_f32(1) - p, _f32(self.power), dtype=np.float32) + \
            _f32(self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): periods of first_decay_steps,
    each t_mul times longer and m_mul times lower than the last."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        if first_decay_steps <= 0:
            raise ValueError("Argument `first_decay_steps` must be > 0. "
                             f"Received: first_decay_steps={first_decay_steps}")
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        t_mul = _f32(self._t_mul)
        fraction = _f32(step) / _f32(self.first_decay_steps)
        if t_mul == 1.0:
            restart = np.floor(fraction)
            fraction = fraction - restart
        else:
            restart = np.floor(np.log(_f32(1.0) - fraction * (_f32(1.0) - t_mul)) / np.log(t_mul))
            done = (_f32(1.0) - np.power(t_mul, restart)) / (_f32(1.0) - t_mul)
            fraction = (fraction - done) / np.power(t_mul, restart)
        cosine = _f32(0.5) * np.power(_f32(self._m_mul), restart) * \
            (_f32(1.0) + np.cos(_f32(math.pi) * fraction))
        decayed = (_f32(1) - _f32(self.alpha)) * cosine + _f32(self.alpha)
        return _f32(self.initial_learning_rate) * _f32(decayed)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self._t_mul,
                "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


ALL_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay,
                                               CosineDecay, InverseTimeDecay, PolynomialDecay,
                                               CosineDecayRestarts)}


def serialize(schedule):
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config, custom_objects=None):
    classes = dict(ALL_SCHEDULES, **(custom_objects or {}))
    cls = classes.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown learning rate schedule: {config.get('class_name')!r}")
    return cls.from_config(dict(config["config"]))
