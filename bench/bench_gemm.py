"""SGEMM speed: pycnn (every ISA path) vs NumPy, at 1 and 2 threads.

    PYTHONPATH=. python bench/bench_gemm.py [--repeat N] [--isa avx512,avx2]

NumPy runs in a child process with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
removed from the environment and OPENBLAS_NUM_THREADS set, so its thread
count really is the one in the table."""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import pycnn
from pycnn import _C

SHAPES = [  # (m, n, k, what)
    (1024, 1024, 1024, "square 1024^3"),
    (3136, 64, 576, "conv 56x56, 64->64, 3x3"),
    (784, 128, 1152, "conv 28x28, 128->128, 3x3"),
    (196, 256, 2304, "conv 14x14, 256->256, 3x3"),
    (256, 512, 4608, "dense-ish, long k"),
]


def best_seconds(fn, repeat):
    fn()  # warm up: workspace, page faults
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def operands(m, n, k):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((m, k)).astype(np.float32),
            rng.standard_normal((k, n)).astype(np.float32))


def numpy_gflops(threads, repeat):
    """GFLOP/s of numpy.matmul for SHAPES, measured in a fresh process."""
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    code = (
        "import json, sys; sys.path.insert(0, %r); import bench_gemm as bg\n"
        "print(json.dumps([2*m*n*k / bg.best_seconds(lambda a=a, b=b: a @ b, %d) / 1e9\n"
        "    for m, n, k, _ in bg.SHAPES for a, b in [bg.operands(m, n, k)]]))"
        % (os.path.dirname(os.path.abspath(__file__)), repeat))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--isa", default=None, help="comma list (default: best only)")
    args = parser.parse_args()
    isas = args.isa.split(",") if args.isa else [_C.best_isa()]
    thread_counts = [1, 2]

    numpy = {t: numpy_gflops(t, args.repeat) for t in thread_counts}
    ours = {}
    before = pycnn.get_isa(), pycnn.get_num_threads()
    for isa in isas:
        pycnn.set_isa(isa)
        for t in thread_counts:
            pycnn.set_num_threads(t)
            ours[isa, t] = [2 * m * n * k / best_seconds(lambda a=a, b=b: _C.gemm(a, b),
                                                         args.repeat) / 1e9
                            for m, n, k, _ in SHAPES for a, b in [operands(m, n, k)]]
    pycnn.set_isa(before[0])
    pycnn.set_num_threads(before[1])

    cols = [f"{isa} {t}T" for isa in isas for t in thread_counts]
    cols += [f"numpy {t}T" for t in thread_counts] + [f"2T/1T {isa}" for isa in isas]
    print(f"{'GFLOP/s  m x n x k':<40}" + "".join(f"{c:>15}" for c in cols))
    for s, (m, n, k, what) in enumerate(SHAPES):
        row = [ours[isa, t][s] for isa in isas for t in thread_counts]
        row += [numpy[t][s] for t in thread_counts]
        row += [ours[isa, 2][s] / ours[isa, 1][s] for isa in isas]
        label = f"{m}x{n}x{k} {what}"
        print(f"{label:<40}" + "".join(f"{v:>15.1f}" if i < len(row) - len(isas) else
                                       f"{v:>14.2f}x" for i, v in enumerate(row)))


if __name__ == "__main__":
    main()
