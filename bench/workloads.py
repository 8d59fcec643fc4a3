"""What is measured: every workload's shape, batch, engines and FLOP count.

Engines build their own callables from these descriptions (bench/engine_*.py);
this file imports neither pycnn nor any peer, so every child can read it.
FLOPs count multiply-adds as 2 in convolutions, dense/GEMM and recurrent
matmuls only; a training step or forward+backward counts 3x the forward.
"""
from dataclasses import dataclass, field

import numpy as np

NETS = ("pycnn", "torch", "onnxruntime", "tf")
TRAIN = ("pycnn", "torch", "tf")
KERNEL = ("pycnn", "torch")

# Fixed sizes of the kernel workloads (edit here to explore).
CONV = dict(batch=32, size=56, cin=64, cout=64, k=3)
GEMM_N = 1024
RNN = dict(batch=32, steps=100, inputs=128, units=128)
CONV1D = dict(batch=32, length=1000, cin=64, cout=64, k=3)
DATA = dict(images=512, size=224, batch=32)


@dataclass
class Workload:
    name: str
    kind: str            # "train", "infer", "kernel" or "data"
    batch: int           # items per call (images, sequences, GEMMs)
    engines: tuple
    network: str = ""    # for "train"/"infer": seed_000, seed_001, resnet50
    flops: float = None  # per call, None when not defined
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _conv_flops():
    c = CONV
    return 2.0 * c["batch"] * c["size"] ** 2 * c["cout"] * c["cin"] * c["k"] ** 2


def _rnn_flops(gates):
    r = RNN
    fwd = 2.0 * r["batch"] * r["steps"] * (r["inputs"] + r["units"]) * gates * r["units"]
    return 3 * fwd


def _conv1d_flops():
    c = CONV1D
    return 3 * 2.0 * c["batch"] * c["length"] * c["cout"] * c["cin"] * c["k"]


def _all():
    w = [
        Workload("seed001_train_b64", "train", 64, TRAIN, "seed_001"),
        Workload("seed000_train_b16", "train", 16, TRAIN, "seed_000"),
        Workload("seed001_infer_b1", "infer", 1, NETS, "seed_001"),
        Workload("seed001_infer_b256", "infer", 256, NETS, "seed_001"),
        Workload("seed000_infer_b1", "infer", 1, NETS, "seed_000"),
        Workload("seed000_infer_b32", "infer", 32, NETS, "seed_000"),
        Workload("resnet50_infer_b1", "infer", 1, NETS, "resnet50"),
        Workload("resnet50_infer_b32", "infer", 32, NETS, "resnet50"),
        Workload("conv3x3_64_56_b32_fwd", "kernel", 1, KERNEL, flops=_conv_flops(),
                 notes="torch: best of NCHW and channels_last"),
        Workload("conv3x3_64_56_b32_fwdbwd", "kernel", 1, KERNEL, flops=3 * _conv_flops(),
                 notes="torch: best of NCHW and channels_last"),
        Workload("gemm_1024", "kernel", 1, ("pycnn", "numpy", "torch"),
                 flops=2.0 * GEMM_N ** 3),
        Workload("lstm128_t100_b32_fwdbwd", "kernel", RNN["batch"], KERNEL,
                 flops=_rnn_flops(4)),
        Workload("gru128_t100_b32_fwdbwd", "kernel", RNN["batch"], KERNEL,
                 flops=_rnn_flops(3), notes="reset_after=True (Keras and torch)"),
        Workload("conv1d_64_k3_l1000_b32_fwdbwd", "kernel", CONV1D["batch"], KERNEL,
                 flops=_conv1d_flops()),
        Workload("data_jpeg224_plain", "data", DATA["batch"], ("pycnn",),
                 notes="flow_from_directory, rescale only"),
        Workload("data_jpeg224_augment", "data", DATA["batch"], ("pycnn",),
                 notes="flow_from_directory, rotation/shift/zoom/flip"),
    ]
    return {x.name: x for x in w}


WORKLOADS = _all()
INPUT_SHAPES = {"seed_001": (28, 28, 1), "seed_000": (150, 150, 3), "resnet50": (224, 224, 3)}


def network_data(network, batch, seed=0):
    """(x NHWC float32, y) for a network: labels fit its loss."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch,) + INPUT_SHAPES[network], dtype=np.float32)
    if network == "seed_001":
        y = rng.integers(0, 10, batch)
    elif network == "seed_000":
        y = (rng.random(batch) > 0.5).astype(np.float32)
    else:
        y = rng.integers(0, 1000, batch)
    return x, y
