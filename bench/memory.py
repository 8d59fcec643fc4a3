"""Memory of a short training run, one fresh process per engine and network:
peak RSS (resource.getrusage ru_maxrss) after building the model and after
the steps; for pycnn also tracemalloc over steps once training is under way,
which should show no Python-side (incl. NumPy array) memory retained per step.

    python -m bench.memory --engine pycnn --network seed_001 --steps 20 --out m.json
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import tracemalloc

TUNED_MALLOC = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
BATCH = {"seed_000": 16, "seed_001": 64}


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _runner(engine, network, threads):
    from bench import networks
    from bench.workloads import network_data
    if engine == "pycnn":
        import pycnn
        pycnn.set_num_threads(threads)
        runner = networks.__dict__[f"{network}_keras"](pycnn)
    else:
        import torch
        torch.set_num_threads(threads)
        runner = networks.__dict__[f"{network}_torch"]()
    x, y = runner.prepare(*network_data(network, BATCH[network]))
    return lambda: runner.train_step(x, y)


def _trace(step, steps):
    """Python-side allocations over `steps` steps after warm-up."""
    for _ in range(3):
        step()
    tracemalloc.start()
    step()  # tracemalloc's own first-use allocations
    before = tracemalloc.take_snapshot()
    current0 = tracemalloc.get_traced_memory()[0]
    blocks0 = sys.getallocatedblocks()
    tracemalloc.reset_peak()
    for _ in range(steps):
        step()
    current1, peak = tracemalloc.get_traced_memory()
    blocks1 = sys.getallocatedblocks()
    own = tracemalloc.Filter(False, tracemalloc.__file__)  # the snapshots themselves
    after = tracemalloc.take_snapshot().filter_traces([own])
    diff = [d for d in after.compare_to(before.filter_traces([own]), "lineno")
            if d.size_diff > 0]
    tracemalloc.stop()
    top = f"{diff[0].traceback[0].filename.split('/pycnn/')[-1]}:{diff[0].traceback[0].lineno}" \
        f" +{diff[0].size_diff} B" if diff else None
    return {"steps": steps, "retained_bytes_per_step": (current1 - current0) / steps,
            "transient_peak_bytes": peak - current0, "blocks_delta": blocks1 - blocks0,
            "top_site": top}


def child(a):
    step = _runner(a.engine, a.network, a.threads)
    step()  # first step: lazy builds, optimizer slots
    out = {"engine": a.engine, "network": a.network, "steps": a.steps,
           "rss_built_mb": _rss_mb()}
    for _ in range(a.steps):
        step()
    out["rss_peak_mb"] = _rss_mb()
    if a.engine == "pycnn":
        out["trace"] = _trace(step, a.steps)
    with open(a.out, "w") as f:
        json.dump(out, f)


def run(threads, steps, engines=("pycnn", "torch"), malloc_modes=("default", "tuned")):
    """Every (network, engine, malloc) in its own process; pycnn under default
    malloc only (as users run it). Returns {"rss": [...], "tracemalloc": [...]}."""
    result = {"rss": [], "tracemalloc": []}
    for network in BATCH:
        for engine in engines:
            for malloc in malloc_modes if engine != "pycnn" else ("default",):
                env = dict(os.environ, OMP_NUM_THREADS=str(threads))
                if malloc == "tuned":
                    env["GLIBC_TUNABLES"] = TUNED_MALLOC
                with tempfile.NamedTemporaryFile(suffix=".json") as f:
                    cmd = [sys.executable, "-m", "bench.memory", "--engine", engine,
                           "--network", network, "--steps", str(steps), "--threads",
                           str(threads), "--out", f.name]
                    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True)
                    if proc.returncode != 0:
                        err = proc.stderr.strip().splitlines()[-1:] or ["?"]
                        result["rss"].append({"network": network, "engine": engine,
                                              "malloc": malloc, "error": err[0]})
                        continue
                    r = json.load(open(f.name))
                trace = r.pop("trace", None)
                result["rss"].append(dict(r, malloc=malloc))
                if trace:
                    result["tracemalloc"].append(dict(trace, network=network))
                print(f"  memory {network} {engine} ({malloc} malloc): peak RSS "
                      f"{r['rss_peak_mb']:.0f} MB", file=sys.stderr, flush=True)
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--engine", choices=["pycnn", "torch"], required=True)
    p.add_argument("--network", choices=list(BATCH), required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    child(p.parse_args())
