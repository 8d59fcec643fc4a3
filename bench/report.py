"""Markdown tables from the measured rows: pycnn's time, spread, throughput,
GFLOP/s and % of peak, each peer's throughput (default / tuned malloc) and
pycnn's speed ratio to the peer (see peer_ratio)."""
from bench.workloads import WORKLOADS

PEERS = ("torch", "onnxruntime", "tf", "numpy")


def _fmt(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" if v >= 10 else f"{v:.2f}"


def best(rows):
    """The fastest row (all variants, e.g. memory layouts) or None."""
    return max(rows, key=lambda r: r["items_per_s"], default=None)


def peer_summary(rows, peer):
    """(cell text, best items/s) for one peer at one workload and thread count."""
    by_malloc = {m: best([r for r in rows if r["engine"] == peer and r["malloc"] == m])
                 for m in ("default", "tuned")}
    found = [r for r in by_malloc.values() if r]
    if not found:
        return "-", None
    top = best(found)
    cell = " / ".join(_fmt(r["items_per_s"]) if r else "-" for r in by_malloc.values())
    if top["variant"]:
        cell += f" ({top['variant']})"
    return cell, top["items_per_s"]


SIDE_BY_SIDE = ("torch", "onnxruntime", "tf")  # timed in pycnn's own child processes


def peer_ratio(rows, peer):
    """pycnn's speed over the peer's. A peer timed in pycnn's children: the
    lower over the malloc settings, each ratio pairing the peer with pycnn
    timed in the same child under the same malloc (alternating repetitions),
    so a slow minute between the two children does not enter it (a setting
    without a pycnn run of its own uses pycnn's default-malloc run). A peer in
    its own process (NumPy): pycnn as users run it (default malloc) over the
    peer's faster setting."""
    mine = {m: best([r for r in rows if r["engine"] == "pycnn" and r["malloc"] == m])
            for m in ("default", "tuned")}
    if peer not in SIDE_BY_SIDE:
        _, speed = peer_summary(rows, peer)
        ours = mine["default"] or mine["tuned"]
        return ours["items_per_s"] / speed if ours and speed else None
    ratios = []
    for m in ("default", "tuned"):
        theirs = best([r for r in rows if r["engine"] == peer and r["malloc"] == m])
        ours = mine[m] or mine["default"]
        if theirs and ours:
            ratios.append(ours["items_per_s"] / theirs["items_per_s"])
    return min(ratios) if ratios else None


def pycnn_row(rows):
    """pycnn as users run it: default malloc if measured, else whatever was."""
    mine = [r for r in rows if r["engine"] == "pycnn"]
    return best([r for r in mine if r["malloc"] == "default"] or mine)


def enrich(rows, flops, peak):
    """Adds gflops and pct_peak to every row whose workload has a FLOP count."""
    for r in rows:
        f = flops.get(r["workload"])
        r["gflops"] = f / r["seconds"] / 1e9 if f else None
        p = (peak.get("gflops") or {}).get(r["threads"]) or \
            (peak.get("gflops") or {}).get(str(r["threads"]))
        r["pct_peak"] = 100 * r["gflops"] / p if r["gflops"] and p else None


def speed_table(rows):
    head = ["workload", "T", "pycnn ms", "spread %", "pycnn items/s", "GFLOP/s", "% peak"]
    for p in PEERS:
        head += [f"{p} items/s (default / tuned)", f"pycnn/{p}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keys = sorted({(r["workload"], r["threads"]) for r in rows},
                  key=lambda k: (list(WORKLOADS).index(k[0]), k[1]))
    for wname, t in keys:
        sel = [r for r in rows if r["workload"] == wname and r["threads"] == t]
        mine = pycnn_row(sel)
        if mine:
            cells = [wname, str(t), _fmt(mine["seconds"] * 1e3), f"{mine['spread_pct']:.0f}",
                     _fmt(mine["items_per_s"]), _fmt(mine.get("gflops")),
                     _fmt(mine.get("pct_peak"))]
        else:
            cells = [wname, str(t)] + ["-"] * 5
        for p in PEERS:
            cell, _ = peer_summary(sel, p)
            r = peer_ratio(sel, p)
            cells += [cell, f"{r:.2f}x" if r else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def peak_table(peak):
    if "error" in peak:
        return f"Peak FMA probe: not measured ({peak['error']})."
    lines = ["| FMA probe | " + " | ".join(f"{t} thread(s) GFLOP/s" for t in peak["gflops"])
             + " |", "|---|" + "---|" * len(peak["gflops"])]
    for isa, by_t in peak["by_isa"].items():
        lines.append(f"| {isa} | " + " | ".join(f"{v:.1f}" for v in by_t.values())
                     + " |")
    lines.append("| peak (faster of the two) | " + " | ".join(
        f"{v:.1f}" for v in peak["gflops"].values()) + " |")
    return "\n".join(lines)


def memory_table(mem):
    if not mem:
        return ""
    lines = ["| network | engine | malloc | steps | RSS after build + 1 step MB |"
             " peak RSS MB | growth MB |", "|---|---|---|---|---|---|---|"]
    for r in mem.get("rss", []):
        if "error" in r:
            lines.append(f"| {r['network']} | {r['engine']} | {r['malloc']} | - | "
                         f"failed: {r['error']} | | |")
            continue
        lines.append(f"| {r['network']} | {r['engine']} | {r['malloc']} | {r['steps']} | "
                     f"{r['rss_built_mb']:.0f} | {r['rss_peak_mb']:.0f} | "
                     f"{r['rss_peak_mb'] - r['rss_built_mb']:.0f} |")
    tm = mem.get("tracemalloc", [])
    if tm:
        lines += ["", "| network | steps traced | retained bytes/step | transient peak bytes |"
                  " blocks alive after - before | top retaining line |", "|---|---|---|---|---|---|"]
        for r in tm:
            lines.append(f"| {r['network']} | {r['steps']} | {r['retained_bytes_per_step']:.0f}"
                         f" | {r['transient_peak_bytes']:,} | {r['blocks_delta']} | "
                         f"{r['top_site'] or '-'} |")
    return "\n".join(lines)


def engines_line(meta):
    """Versions of what ran, and which OpenBLAS kernel NumPy used."""
    parts = []
    for name, info in meta.get("engines", {}).items():
        text = f"{name} {info.get('version', '?')}"
        for blas in info.get("blas", []) if isinstance(info.get("blas"), list) else []:
            text += f" (OpenBLAS {blas.get('version')} kernel {blas.get('architecture')})"
        parts.append(text)
    if meta.get("missing_engines"):
        parts.append("not installed: " + ", ".join(meta["missing_engines"]))
    return "Engines: " + "; ".join(parts) + "."


def markdown(rows, peak, mem, meta):
    parts = [f"# pycnn bench, {meta['time']}", "",
             f"{meta['cpu']}, {meta['cpus']} CPUs; pycnn ISA {meta.get('pycnn_isa', '?')}. "
             "Speed: median over repetitions. pycnn/torch, pycnn/onnxruntime and pycnn/tf: "
             "pycnn's speed over the peer's, each taken side by side in one child under the "
             "same malloc setting (TF-Keras through a worker under its own interpreter), the "
             "lower of the two settings; pycnn/numpy (own processes): pycnn's "
             "default-malloc run over NumPy's faster setting. "
             "> 1: pycnn is faster.", engines_line(meta), "", speed_table(rows), "", peak_table(peak)]
    mt = memory_table(mem)
    if mt:
        parts += ["", mt]
    return "\n".join(parts) + "\n"
