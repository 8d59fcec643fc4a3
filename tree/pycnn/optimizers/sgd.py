"""SGD with optional (Nesterov) momentum, Keras 3 rule."""
import numpy as np

from pycnn.ops import optim as optim_ops
from pycnn.optimizers.base import Optimizer


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.number)) \
                or not 0 <= momentum <= 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = momentum
        self.nesterov = nesterov

    def _slot_groups(self):
        return (("momentum",),) if self.momentum != 0 else ()

    _fused_kind = 0

    def _fused_slot_names(self):
        return ("momentum" if self.momentum != 0 else None,)

    def _fused_hyper(self, lr):
        return [float(lr), float(self.momentum), 1.0 if self.nesterov else 0.0]

    def _update(self, param, grad, slots, lr, decay):
        momentum_buf = slots[0] if slots else None
        optim_ops.sgd_update(param, grad, momentum_buf, lr, self.momentum, self.nesterov, decay)

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, nesterov=self.nesterov)
        return config
