"""NumPy's matmul (OpenBLAS) on the GEMM workload. Runs in its own process:
the orchestrator removes OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE and sets
OPENBLAS_NUM_THREADS before numpy is imported, and threadpoolctl (when
installed) reports which OpenBLAS kernel runs."""
from bench import kernel_data

name = "numpy"


def available():
    return True


def info():
    import numpy as np
    out = {"version": np.__version__}
    try:
        from threadpoolctl import threadpool_info
        out["blas"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture",
                                               "num_threads", "threading_layer")}
                       for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        out["blas"] = "threadpoolctl not installed"
    return out


def set_threads(n):
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n, user_api="blas")
    except ImportError:
        pass  # OPENBLAS_NUM_THREADS, set by the orchestrator, still holds


def make(w, threads):
    if w.name != "gemm_1024":
        return {}
    a, b = kernel_data.gemm()
    return {"": lambda: a @ b}
