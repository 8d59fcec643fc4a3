"""pycnn callables for every workload: whole models through the Keras API,
kernels through pycnn.ops (what the layers call)."""
import numpy as np

from bench import kernel_data, networks
from bench.workloads import CONV, network_data

name = "pycnn"


def available():
    try:
        import pycnn  # noqa: F401
        return True
    except ImportError:
        return False


def info():
    import pycnn
    return {"version": pycnn.__version__, "isa": pycnn.get_isa()}


def set_threads(n):
    import pycnn
    pycnn.set_num_threads(n)


def _network(w):
    import pycnn
    import pycnn.applications  # noqa: F401  (not imported by `import pycnn`)
    runner = getattr(networks, f"{w.network}_keras")(pycnn)
    x, y = network_data(w.network, w.batch)
    if w.kind == "train":
        return lambda: runner.train_step(x, y)
    return lambda: runner.predict(x)


def _conv(backward):
    from pycnn.ops.conv import conv2d_backward, conv2d_forward
    x, k, b, dz = kernel_data.conv()
    p = CONV["k"] // 2
    pads = (p, p, p, p)
    if not backward:
        return lambda: conv2d_forward(x, k, b, pads=pads)

    def step():
        conv2d_forward(x, k, b, pads=pads)
        conv2d_backward(x, k, dz, pads=pads)
    return step


def _gemm():
    from pycnn.ops.gemm import gemm
    a, b = kernel_data.gemm()
    return lambda: gemm(a, b)


def _lstm():
    from pycnn.ops.rnn import lstm_backward, lstm_forward
    x, k, rk, dh = kernel_data.rnn(4)
    bias = np.zeros(k.shape[1], np.float32)

    def step():
        h, c, gp, g = lstm_forward(x, k, rk, bias)
        lstm_backward(x, k, rk, None, None, h, c, gp, g, dh_seq=dh)
    return step


def _gru():
    from pycnn.ops.rnn import gru_backward, gru_forward
    x, k, rk, dh = kernel_data.rnn(3)
    bias = np.zeros((2, k.shape[1]), np.float32)

    def step():
        h, gp, g, rec = gru_forward(x, k, rk, bias)
        gru_backward(x, k, rk, None, h, gp, g, rec, dh_seq=dh)
    return step


def _conv1d():
    from pycnn.ops.conv import conv1d_backward, conv1d_forward
    x, k, b, dz = kernel_data.conv1d()

    def step():
        conv1d_forward(x, k, b, pads=(1, 1))
        conv1d_backward(x, k, dz, pads=(1, 1))
    return step


def _data(augment):
    from bench.datapath import flow
    it = flow(augment)
    return lambda: next(it)


KERNELS = {
    "conv3x3_64_56_b32_fwd": lambda: _conv(False),
    "conv3x3_64_56_b32_fwdbwd": lambda: _conv(True),
    "gemm_1024": _gemm,
    "lstm128_t100_b32_fwdbwd": _lstm,
    "gru128_t100_b32_fwdbwd": _gru,
    "conv1d_64_k3_l1000_b32_fwdbwd": _conv1d,
    "data_jpeg224_plain": lambda: _data(False),
    "data_jpeg224_augment": lambda: _data(True),
}


def make(w, threads):
    """{variant: zero-argument callable}, {} when pycnn has no such workload."""
    if w.network:
        return {"": _network(w)}
    return {"": KERNELS[w.name]()} if w.name in KERNELS else {}
