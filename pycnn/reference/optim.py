"""NumPy twins of pycnn.ops.optim: Keras 3's update rules in float32,
updating the given arrays in place (same names and signatures)."""
import numpy as np


def _f32(x):
    return np.float32(x)


def _decayed(param, decay):
    return param - param * _f32(decay)


def sgd_update(param, grad, momentum_buf, lr, momentum, nesterov, decay=0.0):
    g = np.asarray(grad, np.float32)
    lr, momentum = _f32(lr), _f32(momentum)
    p = _decayed(param, decay)
    if momentum_buf is None:
        param[...] = p - g * lr
        return
    momentum_buf[...] = momentum_buf * momentum - g * lr
    param[...] = p + (momentum_buf * momentum - g * lr if nesterov else momentum_buf)


def adam_update(param, grad, m, v, velocity_hat, alpha, beta_1, beta_2, epsilon, decay=0.0):
    g = np.asarray(grad, np.float32)
    p = _decayed(param, decay)
    m += (g - m) * (_f32(1) - _f32(beta_1))
    v += (g * g - v) * (_f32(1) - _f32(beta_2))
    denominator_v = v
    if velocity_hat is not None:
        np.maximum(velocity_hat, v, out=velocity_hat)
        denominator_v = velocity_hat
    param[...] = p - (m * _f32(alpha)) / (np.sqrt(denominator_v) + _f32(epsilon))


def adam_update_outer(param, a, b, m, v, velocity_hat, alpha, beta_1, beta_2, epsilon,
                      decay=0.0):
    """adam_update with the gradient a^T b (summed in float64)."""
    grad = (np.asarray(a, np.float64).T @ np.asarray(b, np.float64)).astype(np.float32)
    adam_update(param, grad, m, v, velocity_hat, alpha, beta_1, beta_2, epsilon, decay)


def rmsprop_update(param, grad, velocity, momentum_buf, average_grad, lr, rho, momentum,
                   epsilon, decay=0.0):
    g = np.asarray(grad, np.float32)
    rho, eps = _f32(rho), _f32(epsilon)
    p = _decayed(param, decay)
    velocity[...] = rho * velocity + (_f32(1) - rho) * (g * g)
    if average_grad is not None:
        average_grad[...] = rho * average_grad + (_f32(1) - rho) * g
        denominator = velocity - average_grad * average_grad + eps
    else:
        denominator = velocity + eps
    increment = (_f32(lr) * g) / np.sqrt(denominator)
    if momentum_buf is not None:
        momentum_buf[...] = _f32(momentum) * momentum_buf + increment
        param[...] = p - momentum_buf
    else:
        param[...] = p - increment


def adagrad_update(param, grad, accumulator, lr, epsilon, decay=0.0):
    g = np.asarray(grad, np.float32)
    p = _decayed(param, decay)
    accumulator += g * g
    param[...] = p - (_f32(lr) * g) / np.sqrt(accumulator + _f32(epsilon))


def all_finite(x):
    """_C.all_finite: no NaN or Inf anywhere in x."""
    return bool(np.isfinite(x).all())
