"""pycnn against its CPU peers: every workload of bench/workloads.py, at each
thread count, for pycnn and (when installed) PyTorch, ONNX Runtime,
TensorFlow-Keras and NumPy.

    python -m bench                       # everything (~10 min on 2 quiet cores)
    python -m bench --quick               # fewer, shorter repetitions (< 2 min)
    python -m bench --workloads gemm_1024 --threads 1 --no-memory

pycnn, PyTorch, ONNX Runtime and TensorFlow-Keras are timed in one child
process, alternating repetition by repetition (TF-Keras lives in its own
venv: the child drives a worker under that interpreter, which times each
repetition itself, bench/engine_tf_remote.py). PyTorch frees and re-maps big buffers each step
unless glibc's malloc is told to keep them, so peers are also run in a second
child with GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=
68719476736, pycnn alongside them again; each ratio pairs pycnn and a peer timed
in the same child, and the table reports the lower of the two settings' ratios.
NumPy runs in its own child per thread count (OpenBLAS reads its settings at
import). See bench/README.md for the columns.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

from bench import flops as flops_mod
from bench import memory, peak, report
from bench.workloads import WORKLOADS

TUNED_MALLOC = memory.TUNED_MALLOC
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_PROCESS = ("pycnn", "torch", "onnxruntime", "tf")  # tf: by proxy, see engine_tf_remote
ALL_ENGINES = IN_PROCESS + ("numpy",)
QUICK_SKIP = ("resnet50_infer_b32",)  # ~6 s a call at 1 thread, per engine


def default_tf_python():
    p = os.environ.get("PYCNN_BENCH_TF_PYTHON", "/opt/tfenv/bin/python")
    return p if os.path.exists(p) else None


def run_child(python, engines, threads, workloads, args, env):
    """Rows, info and missing engines of one bench.child process ({} on failure:
    a broken peer must not sink the run)."""
    workloads = [w for w in workloads if set(WORKLOADS[w].engines) & set(engines)]
    if not workloads:
        return {}
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = [python, "-m", "bench.child", "--engines", *engines,
               "--threads", *map(str, threads), "--workloads", *workloads,
               "--repeats", str(args.repeats), "--min-seconds", str(args.min_seconds),
               "--heavy-repeats", str(args.heavy_repeats), "--out", f.name]
        env = dict(env, PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""))
        proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        if proc.returncode != 0:
            print(f"child {' '.join(engines)} failed (exit {proc.returncode})", file=sys.stderr)
            return {}
        return json.load(open(f.name))


def collect(args):
    """Every child run; returns (rows, info per engine, missing engines)."""
    rows, info, missing = [], {}, set()

    def merge(out):
        rows.extend(out.get("rows", []))
        info.update(out.get("info", {}))
        missing.update(out.get("missing", []))

    base = dict(os.environ)
    base.pop("GLIBC_TUNABLES", None)
    if "tf" in args.engines and args.tf_python:
        base["PYCNN_BENCH_TF_PYTHON"] = args.tf_python
    elif "tf" in args.engines:
        missing.add("tf")
    for malloc in args.malloc:
        env = dict(base, **({"GLIBC_TUNABLES": TUNED_MALLOC} if malloc == "tuned" else {}))
        # pycnn runs in both children: each ratio is then taken side by side.
        engines = [e for e in IN_PROCESS if e in args.engines and
                   (e != "tf" or args.tf_python)]
        print(f"== {'/'.join(engines)}, {malloc} malloc", file=sys.stderr, flush=True)
        merge(run_child(sys.executable, engines, args.threads, args.workloads, args, env))
    if "numpy" in args.engines:
        for t in args.threads:  # OpenBLAS reads these at import: one process each
            env = {k: v for k, v in base.items()
                   if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
            env.update(OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t))
            print(f"== numpy, {t} thread(s)", file=sys.stderr, flush=True)
            merge(run_child(sys.executable, ["numpy"], [t], args.workloads, args, env))
    return rows, info, sorted(missing)


def workload_flops():
    """FLOPs per call of every workload that has a count."""
    out = {}
    per_item = {}
    for w in WORKLOADS.values():
        if w.flops:
            out[w.name] = w.flops
        elif w.network:
            if w.network not in per_item:
                per_item[w.network] = flops_mod.forward_flops_per_item(w.network)
            if per_item[w.network]:
                out[w.name] = per_item[w.network] * w.batch * (3 if w.kind == "train" else 1)
    return out


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), metavar="NAME",
                   help="default: all (--quick: all but " + ", ".join(QUICK_SKIP) + "): " + ", ".join(WORKLOADS)
                   )
    p.add_argument("--engines", nargs="+", default=list(ALL_ENGINES), choices=ALL_ENGINES)
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--repeats", type=int, help="timed repetitions per engine (5; quick 3)")
    p.add_argument("--heavy-repeats", type=int,
                   help="repetitions when a call takes over 1 s (3; quick 2)")
    p.add_argument("--min-seconds", type=float,
                   help="each repetition calls until this much time has passed (0.2; quick 0.05)")
    p.add_argument("--malloc", nargs="+", choices=["default", "tuned"],
                   help="malloc settings the peers run with (default tuned; quick default)")
    p.add_argument("--tf-python", default=default_tf_python(),
                   help="python of a venv with tensorflow-cpu (env PYCNN_BENCH_TF_PYTHON; "
                        "default /opt/tfenv/bin/python if it exists)")
    p.add_argument("--memory-steps", type=int, help="training steps per memory run (20; quick 5)")
    p.add_argument("--no-memory", action="store_true", help="skip RSS/tracemalloc runs")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--peak-seconds", type=float, help="FMA probe time (0.2; quick 0.1)")
    p.add_argument("--out-dir", default=os.path.join(ROOT, "bench", "results"))
    p.add_argument("--quick", action="store_true", help="the smaller settings above, default "
                   "malloc only, and no " + ", ".join(QUICK_SKIP) + " (< 2 min)")
    a = p.parse_args(argv)
    full = dict(repeats=5, heavy_repeats=3, min_seconds=0.2, malloc=["default", "tuned"],
                memory_steps=20, peak_seconds=0.2,
                workloads=list(WORKLOADS))
    quick = dict(repeats=3, heavy_repeats=2, min_seconds=0.05, malloc=["default"],
                 memory_steps=5, peak_seconds=0.1,
                 workloads=[w for w in WORKLOADS if w not in QUICK_SKIP])
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:  # explicit options win over --quick
            setattr(a, k, v)
    return a


def main(argv=None):
    args = parse(argv)
    start = datetime.datetime.now()
    print("== peak FMA probe", file=sys.stderr, flush=True)
    pk = peak.measure(args.threads, args.peak_seconds)
    rows, info, missing = collect(args)
    mem = {} if args.no_memory else memory.run(max(args.threads), args.memory_steps,
                                               [e for e in ("pycnn", "torch")
                                                if e in args.engines and e not in missing],
                                               args.malloc)
    report.enrich(rows, workload_flops(), pk)
    meta = {"time": start.isoformat(timespec="seconds"), "cpu": machine(),
            "cpus": os.cpu_count(), "python": sys.version.split()[0], "argv": sys.argv[1:],
            "pycnn_isa": info.get("pycnn", {}).get("isa"), "engines": info,
            "missing_engines": missing,
            "wall_seconds": (datetime.datetime.now() - start).total_seconds()}
    md = report.markdown(rows, pk, mem, meta)
    print(md)
    os.makedirs(args.out_dir, exist_ok=True)
    doc = {"meta": meta, "peak": pk, "rows": rows, "memory": mem,
           "workloads": {n: {"kind": w.kind, "batch": w.batch, "network": w.network,
                             "notes": w.notes} for n, w in WORKLOADS.items()}}
    stamp = start.strftime("%Y%m%d-%H%M%S")
    for name in (f"{stamp}.json", "latest.json"):
        with open(os.path.join(args.out_dir, name), "w") as f:
            json.dump(doc, f, indent=1)
    with open(os.path.join(args.out_dir, "latest.md"), "w") as f:
        f.write(md)
    if not args.no_plot:
        from bench import plot
        png = plot.plot(doc, os.path.join(args.out_dir, "latest.png"))
        if png:
            print(f"(plot: {png})", file=sys.stderr)
    print(f"(json: {os.path.join(args.out_dir, 'latest.json')}, "
          f"{meta['wall_seconds']:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
