"""Adagrad, Keras 3 rule (accumulators start at initial_accumulator_value)."""
from pycnn.ops import optim as optim_ops
from pycnn.optimizers.base import Optimizer


class Adagrad(Optimizer):
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _slot_groups(self):
        return (("accumulator",),)

    @property
    def _slot_initial_value(self):
        return self.initial_accumulator_value

    _fused_kind = 3

    def _fused_slot_names(self):
        return ("accumulator",)

    def _fused_hyper(self, lr):
        return [float(lr), self.epsilon]

    def _update(self, param, grad, slots, lr, decay):
        optim_ops.adagrad_update(param, grad, slots[0], lr, self.epsilon, decay)

    def get_config(self):
        config = super().get_config()
        config.update(initial_accumulator_value=self.initial_accumulator_value,
                      epsilon=self.epsilon)
        return config
