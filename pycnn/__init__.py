"""pycnn: a CPU neural-network engine with a Keras 3 compatible API.

Hot kernels (GEMM, convolution, pooling, normalization, recurrent cells) are
C++ with OpenMP threads and SIMD, bound with pybind11 as ``pycnn._C``.
"""
from pycnn import _threads

# Default threads = the cgroup CPU quota, and a short idle spin (see _threads);
# both must be in the environment when libgomp loads.
with _threads.default_threads_env() as _default_threads:
    try:
        from pycnn import _C
    except ImportError as _exc:
        import os as _os
        raise ImportError(
            f"pycnn's compiled module _C is missing from {_os.path.dirname(__file__)}. "
            "This is usually the source checkout shadowing the installed package: run "
            "Python from another directory, or build in place with tools/devbuild.sh."
        ) from _exc
_threads.apply_default(_C, _default_threads)

__version__ = "0.1.0"


def set_num_threads(n):
    """Set how many threads pycnn's kernels may use (like OMP_NUM_THREADS)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _C.set_num_threads(n)


def get_num_threads():
    """Threads pycnn's kernels may use."""
    return _C.get_num_threads()


def get_isa():
    """The kernel path in use: 'avx512', 'avx2' or 'generic'."""
    return _C.get_isa()


def set_isa(name):
    """Force a kernel path ('avx512', 'avx2', 'generic'); for tests and bench."""
    _C.set_isa(str(name))


from pycnn import activations, initializers, layers, losses, metrics, models  # noqa: E402
from pycnn import callbacks, constraints, optimizers, regularizers, utils  # noqa: E402
from pycnn.backend import Variable, KerasTensor, clear_session  # noqa: E402
from pycnn.layers import Input, InputLayer, Layer  # noqa: E402
from pycnn.models import Model, Sequential  # noqa: E402

# Heavier subpackages load on first use, as `keras.applications.ResNet50` or
# `keras.preprocessing.image.ImageDataGenerator` are reached by attribute.
_LAZY_SUBMODULES = ("applications", "preprocessing", "datasets", "saving", "export",
                    "backend", "ops", "random", "testing")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"pycnn.{name}")
    raise AttributeError(f"module 'pycnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
