"""Adam and AdamW (decoupled weight decay, default 0.004), Keras 3 rules."""
import numpy as np

from pycnn.ops import optim as optim_ops
from pycnn.optimizers.base import Optimizer


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def _slot_groups(self):
        groups = (("momentum", "velocity"),)
        return groups + (("velocity_hat",),) if self.amsgrad else groups

    def _bias_corrected_rate(self, lr):
        """alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), t = iterations + 1,
        in float32 as Keras computes it."""
        f32 = np.float32
        t = f32(self.iterations + 1)
        beta_1_power = np.power(f32(self.beta_1), t, dtype=np.float32)
        beta_2_power = np.power(f32(self.beta_2), t, dtype=np.float32)
        return f32(lr) * np.sqrt(f32(1) - beta_2_power) / (f32(1) - beta_1_power)

    _fused_kind = 1

    def _fused_slot_names(self):
        return ("momentum", "velocity", "velocity_hat" if self.amsgrad else None)

    def _fused_hyper(self, lr):
        # optimizer_step computes the bias-corrected rate from these once per step.
        return [float(lr), self.beta_1, self.beta_2, self.epsilon]

    def _update(self, param, grad, slots, lr, decay):
        velocity_hat = slots[2] if self.amsgrad else None
        optim_ops.adam_update(param, grad, slots[0], slots[1], velocity_hat,
                              self._bias_corrected_rate(lr), self.beta_1, self.beta_2,
                              self.epsilon, decay)

    def get_config(self):
        config = super().get_config()
        config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                      amsgrad=self.amsgrad)
        return config


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
