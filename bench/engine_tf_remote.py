"""TensorFlow-Keras in pycnn's own child process, by proxy: the calls run in
a bench/tf_worker.py process under TF's interpreter (PYCNN_BENCH_TF_PYTHON),
one worker per thread count, and each repetition's seconds are measured
there, so the pipe's round trip is not timed. timing.alternate then runs TF's
repetitions between pycnn's, as it does for PyTorch and ONNX Runtime."""
import json
import os
import subprocess
import sys

name = "tf"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_worker = {"proc": None, "threads": None}


def _python():
    p = os.environ.get("PYCNN_BENCH_TF_PYTHON")
    return p if p and os.path.exists(p) else None


def _start(threads):
    _stop()
    env = dict(os.environ, PYCNN_BENCH_TF_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    _worker["proc"] = subprocess.Popen([_python(), "-m", "bench.tf_worker"], cwd=ROOT, env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _worker["threads"] = threads


def _stop():
    proc = _worker["proc"]
    if proc is not None:
        proc.stdin.close()
        proc.wait(timeout=60)
        _worker["proc"] = None


def _ask(**req):
    proc = _worker["proc"]
    proc.stdin.write(json.dumps(req) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"tf worker exited (code {proc.poll()})")
    answer = json.loads(line)
    if "error" in answer:
        raise RuntimeError("tf worker:\n" + answer["error"])
    return answer["ok"]


def available():
    if not _python():
        return False
    try:
        _start(1)
        _ask(cmd="info")
        return True
    except Exception as e:  # reported as "not installed", with the reason
        print(f"tf worker unavailable: {e}", file=sys.stderr)
        return False


def info():
    if _worker["proc"] is None:
        _start(1)
    return _ask(cmd="info")


def set_threads(n):
    if _worker["threads"] != n or _worker["proc"] is None:
        _start(n)


class RemoteCall:
    """A workload variant in the worker: timing.alternate asks it for its own
    seconds per call (timed) and warm-up cost (warm) instead of timing it."""

    def __init__(self, variant):
        self.variant = variant

    def warm(self):
        return _ask(cmd="warm", variant=self.variant)

    def timed(self, min_seconds):
        return _ask(cmd="time", variant=self.variant, min_seconds=min_seconds)

    def __call__(self):
        self.timed(0.0)


def make(w, threads):
    if not w.network:
        return {}
    set_threads(threads)
    return {v: RemoteCall(v) for v in _ask(cmd="make", workload=w.name)}
