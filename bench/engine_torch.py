"""PyTorch CPU callables: the same networks (bench/networks.py) and the same
kernel shapes as pycnn, as a PyTorch user would write them."""
import numpy as np

from bench import kernel_data, networks
from bench.workloads import CONV, network_data

name = "torch"


def available():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def info():
    import torch
    return {"version": torch.__version__, "mkldnn": torch.backends.mkldnn.is_available()}


def set_threads(n):
    import torch
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)  # only allowed before the first parallel work
    except RuntimeError:
        pass


def _network(w):
    runner = getattr(networks, f"{w.network}_torch")()
    xt, yt = runner.prepare(*network_data(w.network, w.batch))
    if w.kind == "train":
        return lambda: runner.train_step(xt, yt)
    return lambda: runner.predict(xt)


def _t(a):
    import torch
    return torch.from_numpy(np.ascontiguousarray(a))


def _conv(backward):
    """Both memory formats: NCHW contiguous and channels_last."""
    import torch
    import torch.nn.functional as F
    x, k, b, dz = kernel_data.conv()
    x, dz = _t(x.transpose(0, 3, 1, 2)), _t(dz.transpose(0, 3, 1, 2))
    k, b = _t(k.transpose(3, 2, 0, 1)), _t(b)
    pad = CONV["k"] // 2
    out = {}
    for variant, fmt in (("nchw", torch.contiguous_format), ("channels_last",
                                                             torch.channels_last)):
        xv, kv, dzv = (t.contiguous(memory_format=fmt) for t in (x, k, dz))
        if backward:
            xv.requires_grad_(True)
            kv.requires_grad_(True)
            bv = b.clone().requires_grad_(True)

            def step(xv=xv, kv=kv, bv=bv, dzv=dzv):
                F.conv2d(xv, kv, bv, padding=pad).backward(dzv)
        else:
            def step(xv=xv, kv=kv, bv=b):
                with torch.inference_mode():
                    F.conv2d(xv, kv, bv, padding=pad)
        out[variant] = step
    return out


def _gemm():
    import torch
    a, b = (_t(m) for m in kernel_data.gemm())

    def step():
        with torch.inference_mode():
            torch.matmul(a, b)
    return {"": step}


def _rnn(cls, gates):
    x, _, _, dh = kernel_data.rnn(gates)
    net = cls(x.shape[2], dh.shape[2], batch_first=True)
    x, dh = _t(x).requires_grad_(True), _t(dh)

    def step():
        out, _ = net(x)
        out.backward(dh)
    return {"": step}


def _conv1d():
    import torch.nn.functional as F
    x, k, b, dz = kernel_data.conv1d()
    x = _t(x.transpose(0, 2, 1)).requires_grad_(True)
    k = _t(k.transpose(2, 1, 0)).requires_grad_(True)
    b, dz = _t(b).requires_grad_(True), _t(dz.transpose(0, 2, 1))
    return {"": lambda: F.conv1d(x, k, b, padding=1).backward(dz)}


def make(w, threads):
    import torch
    if w.network:
        return {"": _network(w)}
    table = {
        "conv3x3_64_56_b32_fwd": lambda: _conv(False),
        "conv3x3_64_56_b32_fwdbwd": lambda: _conv(True),
        "gemm_1024": _gemm,
        "lstm128_t100_b32_fwdbwd": lambda: _rnn(torch.nn.LSTM, 4),
        "gru128_t100_b32_fwdbwd": lambda: _rnn(torch.nn.GRU, 3),
        "conv1d_64_k3_l1000_b32_fwdbwd": _conv1d,
    }
    return table[w.name]() if w.name in table else {}
