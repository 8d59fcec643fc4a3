"""RMSprop (optional momentum and centering), Keras 3 rule."""
from pycnn.ops import optim as optim_ops
from pycnn.optimizers.base import Optimizer


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
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
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def _slot_groups(self):
        # Keras builds all velocities, then all momentums, then averages.
        groups = [("velocity",)]
        if self.momentum > 0:
            groups.append(("momentum",))
        if self.centered:
            groups.append(("average_gradient",))
        return tuple(groups)

    _fused_kind = 2

    def _fused_slot_names(self):
        return ("velocity", "momentum" if self.momentum > 0 else None,
                "average_gradient" if self.centered else None)

    def _fused_hyper(self, lr):
        return [float(lr), self.rho, self.momentum, self.epsilon]

    def _update(self, param, grad, slots, lr, decay):
        slots = list(slots)
        velocity = slots.pop(0)
        momentum_buf = slots.pop(0) if self.momentum > 0 else None
        average_grad = slots.pop(0) if self.centered else None
        optim_ops.rmsprop_update(param, grad, velocity, momentum_buf, average_grad, lr,
                                 self.rho, self.momentum, self.epsilon, decay)

    def get_config(self):
        config = super().get_config()
        config.update(rho=self.rho, momentum=self.momentum, epsilon=self.epsilon,
                      centered=self.centered)
        return config
