"""Throughput against batch size (inference of each network) and against
threads (every workload with a FLOP count), one line per engine, from a bench
JSON file. Needs matplotlib; returns None without it.

    python -m bench.plot [bench/results/latest.json] [out.png]
"""
import json
import os
import sys

COLORS = {"pycnn": "C0", "torch": "C1", "onnxruntime": "C2", "tf": "C3", "numpy": "C4"}


def _best(rows):
    """Fastest row per (engine, threads, workload) over malloc settings and variants."""
    out = {}
    for r in rows:
        k = (r["engine"], r["threads"], r["workload"])
        if k not in out or r["items_per_s"] > out[k]["items_per_s"]:
            out[k] = r
    return out


def plot(doc, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    best = _best(doc["rows"])
    kinds = doc["workloads"]
    nets = sorted({kinds[w]["network"] for (_, _, w) in best if kinds[w]["kind"] == "infer"})
    fig, axes = plt.subplots(1, len(nets) + 1, figsize=(5 * (len(nets) + 1), 4), squeeze=False)
    for ax, net in zip(axes[0], nets):
        for (engine, threads) in sorted({(e, t) for (e, t, _) in best}):
            pts = sorted((kinds[w]["batch"], r["items_per_s"]) for (e, t, w), r in best.items()
                         if e == engine and t == threads and kinds[w]["network"] == net
                         and kinds[w]["kind"] == "infer")
            if pts:
                ax.plot(*zip(*pts), marker="o", color=COLORS.get(engine),
                        linestyle="-" if threads == 1 else "--", label=f"{engine} {threads}T")
        ax.set(xscale="log", yscale="log", xlabel="batch", ylabel="images/s",
               title=f"{net} inference")
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    flop_workloads = sorted({w for (_, _, w), r in best.items()
                             if r.get("gflops") and kinds[w]["kind"] == "kernel"})
    for i, w in enumerate(flop_workloads):
        for engine in sorted({e for (e, _, ww) in best if ww == w}):
            pts = sorted((t, r["gflops"]) for (e, t, ww), r in best.items()
                         if e == engine and ww == w)
            ax.plot(*zip(*pts), marker="o", color=COLORS.get(engine),
                    label=engine if i == 0 else None, alpha=0.7)
            ax.annotate(w.split("_")[0], pts[-1], fontsize=6)
    peak = doc.get("peak", {}).get("gflops", {})
    if peak:
        ax.plot([int(t) for t in peak], list(peak.values()), "k:", label="FMA peak")
    ax.set(xlabel="threads", ylabel="GFLOP/s", title="kernels: GFLOP/s by threads")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join("bench", "results", "latest.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.splitext(src)[0] + ".png"
    with open(src) as f:
        print(plot(json.load(f), dst) or "matplotlib is not installed")
