"""Side-by-side timing of pycnn and PyTorch CPU on the users' seed networks.

    python -m bench                 # all workloads, 1 and 2 threads
    python -m bench --quick         # fewer repeats
    python -m bench --threads 1 --workloads seed001_train

PyTorch frees and re-maps its big buffers every step unless glibc's malloc is
told to keep them, which on this machine changes its speed by up to 2x. To be
fair the whole run is done twice, in child processes with and without
GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736,
and pycnn is compared with the faster of the two. In each child the engines
alternate repetition by repetition, so drift in machine speed hits both alike.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

TUNED_MALLOC = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"

# name: (network, mode, batch)
WORKLOADS = {
    "seed001_train_b64": ("seed_001", "train", 64),
    "seed000_train_b16": ("seed_000", "train", 16),
    "seed001_infer_b1": ("seed_001", "infer", 1),
    "seed001_infer_b256": ("seed_001", "infer", 256),
    "seed000_infer_b1": ("seed_000", "infer", 1),
    "seed000_infer_b32": ("seed_000", "infer", 32),
}
INPUT_SHAPES = {"seed_001": (28, 28, 1), "seed_000": (150, 150, 3)}


def make_data(network, batch, rng):
    x = rng.random((batch,) + INPUT_SHAPES[network], dtype=np.float32)
    if network == "seed_001":
        y = rng.integers(0, 10, batch)
    else:
        y = (rng.random(batch) > 0.5).astype(np.float32)
    return x, y


def build(engine, network):
    from bench import networks
    return getattr(networks, f"{network}_{engine}")()


def time_call(fn, min_seconds):
    """Seconds per call: run until min_seconds have passed (at least 3 calls)."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if calls >= 3 and elapsed >= min_seconds:
            return elapsed / calls


def measure_child(args):
    """Runs inside a child process: every workload, engines alternating."""
    import pycnn
    engines = ["pycnn"]
    try:
        import torch
        engines.append("torch")
    except ImportError:
        torch = None
    results = []
    rng = np.random.default_rng(0)
    for threads in args.threads:
        pycnn.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        for name in args.workloads:
            network, mode, batch = WORKLOADS[name]
            x, y = make_data(network, batch, rng)
            runners, calls = {}, {}
            for engine in engines:
                r = build(engine, network)
                if engine == "torch":
                    xt, yt = r.prepare(x, y)
                else:
                    xt, yt = x, y
                fn = (lambda r=r, xt=xt, yt=yt: r.train_step(xt, yt)) if mode == "train" \
                    else (lambda r=r, xt=xt: r.predict(xt))
                for _ in range(3):  # warm-up: first-call allocations, packing
                    fn()
                runners[engine], calls[engine] = r, fn
            samples = {e: [] for e in engines}
            for _ in range(args.repeats):
                for engine in engines:
                    samples[engine].append(time_call(calls[engine], args.min_seconds))
            for engine in engines:
                per_call = statistics.median(samples[engine])
                results.append({
                    "workload": name, "engine": engine, "threads": threads,
                    "batch": batch, "mode": mode,
                    "ms_per_call": per_call * 1e3,
                    "samples_per_s": batch / per_call,
                    "spread_pct": 100 * (max(samples[engine]) - min(samples[engine]))
                    / per_call,
                })
            print(f"  measured {name} at {threads} thread(s)", file=sys.stderr, flush=True)
    return results


def run_children(args):
    rows = []
    for label, extra in (("default malloc", {}), ("tuned malloc",
                                                    {"GLIBC_TUNABLES": TUNED_MALLOC})):
        env = dict(os.environ, **extra)
        cmd = [sys.executable, "-m", "bench", "--child",
               "--repeats", str(args.repeats), "--min-seconds", str(args.min_seconds),
               "--threads", *map(str, args.threads), "--workloads", *args.workloads]
        print(f"running with {label} ...", file=sys.stderr, flush=True)
        out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True)
        for row in json.loads(out.stdout):
            row["malloc"] = "tuned" if extra else "default"
            rows.append(row)
    return rows


def table(rows):
    lines = ["| workload | threads | pycnn samples/s | torch samples/s (default / tuned malloc)"
             " | pycnn / best torch |", "|---|---|---|---|---|"]
    keys = sorted({(r["workload"], r["threads"]) for r in rows},
                  key=lambda k: (list(WORKLOADS).index(k[0]), k[1]))
    for workload, threads in keys:
        sel = [r for r in rows if r["workload"] == workload and r["threads"] == threads]
        pyc = max(r["samples_per_s"] for r in sel if r["engine"] == "pycnn")
        torch_rows = {r["malloc"]: r["samples_per_s"] for r in sel if r["engine"] == "torch"}
        if torch_rows:
            best = max(torch_rows.values())
            tcell = f"{torch_rows.get('default', float('nan')):,.0f} / " \
                    f"{torch_rows.get('tuned', float('nan')):,.0f}"
            ratio = f"{pyc / best:.2f}x"
        else:
            tcell, ratio = "not installed", "-"
        lines.append(f"| {workload} | {threads} | {pyc:,.0f} | {tcell} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS),
                        choices=list(WORKLOADS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=0.3)
    parser.add_argument("--quick", action="store_true", help="3 repeats of 0.15 s")
    parser.add_argument("--json", default="bench/results/latest.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.min_seconds = 3, 0.15
    if args.child:
        json.dump(measure_child(args), sys.stdout)
        return
    rows = run_children(args)
    md = table(rows)
    print(md)
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"rows": rows, "table": md}, f, indent=1)
    print(f"\n(json: {args.json})")


if __name__ == "__main__":
    main()
