"""NumPy twins of ``pycnn.ops.norm``: batch normalization over the last axis
(channels-last; any rank, statistics over every other axis). float64 inside."""
import numpy as np


def _rows(x):
    x = np.asarray(x, np.float64)
    return x.reshape(-1, x.shape[-1])


def _param(v, channels, default):
    return np.full(channels, default) if v is None else np.asarray(v, np.float64)


def train_forward64(x, gamma, beta, epsilon):
    """float64 (y, mean, var, inv_std); y has x's shape (for gradient checks)."""
    x2 = _rows(x)
    c = x2.shape[1]
    mean = x2.mean(axis=0)
    var = np.mean(np.square(x2 - mean), axis=0)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    y = (x2 - mean) * inv_std * _param(gamma, c, 1.0) + _param(beta, c, 0.0)
    return y.reshape(np.shape(x)), mean, var, inv_std


def batchnorm_train_forward(x, gamma, beta, epsilon):
    """(y, mean, var, inv_std) with the batch's mean and biased variance."""
    y, mean, var, inv_std = train_forward64(x, gamma, beta, epsilon)
    return (y.astype(np.float32), mean.astype(np.float32),
            var.astype(np.float32), inv_std.astype(np.float32))


def batchnorm_infer_forward(x, gamma, beta, moving_mean, moving_var, epsilon):
    """y = (x - moving_mean) / sqrt(moving_var + epsilon) * gamma + beta."""
    x2 = _rows(x)
    c = x2.shape[1]
    inv_std = 1.0 / np.sqrt(np.asarray(moving_var, np.float64) + epsilon)
    y = (x2 - np.asarray(moving_mean, np.float64)) * inv_std * _param(gamma, c, 1.0) + \
        _param(beta, c, 0.0)
    return y.reshape(np.shape(x)).astype(np.float32)


def batchnorm_backward(x, dy, gamma, mean, inv_std):
    """Training-mode gradients (through the batch mean and variance):
    (dx, dgamma, dbeta)."""
    x2, dy2 = _rows(x), _rows(dy)
    n, c = x2.shape
    inv_std = np.asarray(inv_std, np.float64)
    xhat = (x2 - np.asarray(mean, np.float64)) * inv_std
    dbeta = dy2.sum(axis=0)
    dgamma = (dy2 * xhat).sum(axis=0)
    g = _param(gamma, c, 1.0)
    dx = g * inv_std / n * (n * dy2 - dbeta - xhat * dgamma)
    return (dx.reshape(np.shape(x)).astype(np.float32), dgamma.astype(np.float32),
            dbeta.astype(np.float32))


def batchnorm_infer_backward(x, dy, gamma, moving_mean, moving_var, epsilon):
    """Inference-mode gradients (statistics are constants): (dx, dgamma, dbeta)."""
    x2, dy2 = _rows(x), _rows(dy)
    c = x2.shape[1]
    inv_std = 1.0 / np.sqrt(np.asarray(moving_var, np.float64) + epsilon)
    xhat = (x2 - np.asarray(moving_mean, np.float64)) * inv_std
    dx = dy2 * _param(gamma, c, 1.0) * inv_std
    return (dx.reshape(np.shape(x)).astype(np.float32),
            (dy2 * xhat).sum(axis=0).astype(np.float32), dy2.sum(axis=0).astype(np.float32))
