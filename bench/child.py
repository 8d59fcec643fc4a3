"""One measuring process: given engines, threads and workloads, builds every
engine's callable for a workload, times them in alternation and writes rows
(JSON) to --out. Started by bench/run.py, never by hand (but it can be:
``python -m bench.child --engines pycnn torch --threads 1 --workloads gemm_1024
--out /tmp/x.json``)."""
import argparse
import importlib
import json
import os
import sys
import traceback

from bench import timing
from bench.workloads import WORKLOADS


def module_name(engine):
    """TF-Keras lives in another interpreter: here it runs by proxy through a
    worker process under that interpreter (bench/engine_tf_remote.py)."""
    if engine == "tf" and os.environ.get("PYCNN_BENCH_TF_PYTHON"):
        return "bench.engine_tf_remote"
    return f"bench.engine_{engine}"


def load_engines(names):
    engines, missing = {}, []
    for n in names:
        mod = importlib.import_module(module_name(n))
        (engines.__setitem__(n, mod) if mod.available() else missing.append(n))
    return engines, missing


def measure(engines, threads, workloads, repeats, min_seconds, heavy_repeats, malloc):
    rows = []
    for t in threads:
        for mod in engines.values():
            mod.set_threads(t)
        for wname in workloads:
            w = WORKLOADS[wname]
            calls = {}
            for ename, mod in engines.items():
                if ename not in w.engines:
                    continue
                try:
                    for variant, fn in mod.make(w, t).items():
                        calls[ename, variant] = fn
                except Exception:  # one broken peer must not sink the run
                    print(f"  {ename} failed to build {wname}:\n{traceback.format_exc()}",
                          file=sys.stderr)
            if not calls:
                continue
            try:
                samples = timing.alternate(calls, repeats, min_seconds, heavy_repeats)
            except Exception:  # a peer's worker process died: time the others again
                print(f"  {wname}: a remote engine failed, dropped:\n{traceback.format_exc()}",
                      file=sys.stderr)
                calls = {k: fn for k, fn in calls.items() if not hasattr(fn, "timed")}
                if not calls:
                    continue
                samples = timing.alternate(calls, repeats, min_seconds, heavy_repeats)
            for (ename, variant), s in samples.items():
                row = {"workload": wname, "engine": ename, "variant": variant, "threads": t,
                       "malloc": malloc, "batch": w.batch, **timing.summarize(s)}
                row["items_per_s"] = w.batch / row["seconds"]
                rows.append(row)
            print(f"  [{malloc} malloc, {t}T] {wname}: "
                  + ", ".join(f"{e}{'/' + v if v else ''} {1e3 * timing.summarize(s)['seconds']:.2f} ms"
                              for (e, v), s in samples.items()), file=sys.stderr, flush=True)
            calls.clear()
    return rows


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--engines", nargs="+", required=True)
    p.add_argument("--threads", nargs="+", type=int, required=True)
    p.add_argument("--workloads", nargs="+", required=True)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--min-seconds", type=float, default=0.2)
    p.add_argument("--heavy-repeats", type=int, default=timing.HEAVY_REPEATS)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    malloc = "tuned" if "glibc.malloc.mmap_max=0" in os.environ.get("GLIBC_TUNABLES", "") \
        else "default"
    engines, missing = load_engines(a.engines)
    info = {}
    for n, mod in engines.items():
        try:
            info[n] = mod.info()
        except Exception as e:  # info is for the report only
            info[n] = {"error": repr(e)}
    rows = measure(engines, a.threads, a.workloads, a.repeats, a.min_seconds, a.heavy_repeats,
                   malloc)
    with open(a.out, "w") as f:
        json.dump({"rows": rows, "info": info, "missing": missing}, f)


if __name__ == "__main__":
    main()
