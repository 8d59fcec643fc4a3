"""The machine's peak float32 FMA rate, measured (not looked up) so that
"% of peak" means the same thing on any CPU: bench/peak_fma.c is compiled with
gcc at bench time, for AVX-512 when the CPU has it and for AVX2, and the faster
is the peak (on CPUs that split 512-bit ops in two, AVX2 can tie)."""
import os
import subprocess
import sys
import tempfile

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peak_fma.c")
VARIANTS = {"avx512": ["-mavx512f", "-mfma", "-DWIDTH=16"],
            "avx2": ["-mavx2", "-mfma", "-DWIDTH=8"]}


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _compile(variant, workdir, cc):
    exe = os.path.join(workdir, f"peak_{variant}")
    cmd = [cc, "-O2", "-fopenmp", *VARIANTS[variant], SOURCE, "-o", exe]
    subprocess.run(cmd, check=True, capture_output=True)
    return exe


def measure(thread_counts, seconds=0.2, cc=None):
    """{"isa": best variant, "gflops": {threads: GFLOP/s}, "by_isa": {...}} or
    {"error": why} when no compiler or no FMA."""
    cc = cc or os.environ.get("CC", "gcc")
    flags = cpu_flags()
    variants = [v for v, need in (("avx512", "avx512f"), ("avx2", "fma")) if need in flags]
    if not variants:
        return {"error": "CPU has neither AVX-512F nor FMA"}
    by_isa = {}
    with tempfile.TemporaryDirectory(prefix="pycnn_peak_") as tmp:
        for variant in variants:
            try:
                exe = _compile(variant, tmp, cc)
            except (OSError, subprocess.CalledProcessError) as e:
                print(f"peak: cannot build {variant} probe: {e}", file=sys.stderr)
                continue
            by_isa[variant] = {}
            for t in thread_counts:
                out = subprocess.run([exe, str(t), str(seconds)], check=True,
                                     capture_output=True, text=True,
                                     env=dict(os.environ, OMP_NUM_THREADS=str(t)))
                by_isa[variant][t] = float(out.stdout.strip())
    if not by_isa:
        return {"error": f"could not compile {SOURCE} with {cc}"}
    # Peak per thread count: the faster variant at that count.
    gflops = {t: max(v[t] for v in by_isa.values()) for t in thread_counts}
    best = max(by_isa, key=lambda v: sum(by_isa[v].values()))
    return {"isa": best, "gflops": gflops, "by_isa": by_isa}


if __name__ == "__main__":
    print(measure([1, 2]))
