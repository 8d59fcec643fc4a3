"""The array conversion shared by every ``pycnn.ops`` wrapper."""
import sys

import numpy as np

# bool, signed and unsigned int, float: converting these to float32 keeps
# their meaning. Complex would silently drop its imaginary part, and
# object/str would fail inside numpy with a message naming no op.
_REAL_KINDS = "biuf"
_F32 = np.dtype(np.float32)


def f32(x):
    """float32, C-contiguous view or copy (what every kernel takes); TypeError
    naming the op for a non-numeric or complex array."""
    if type(x) is np.ndarray and x.dtype is _F32 and x.flags.c_contiguous:
        return x  # the common case, without the conversion machinery
    a = np.asarray(x)
    if a.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{_calling_op()}: expected a real numeric array, got dtype "
                        f"{a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _calling_op():
    """The public ops function on the stack (error path only), so the many
    call sites stay a plain ``f32(x)``."""
    frame, name = sys._getframe(2), "pycnn.ops"
    # The outermost public function of pycnn.ops is the one the user called.
    while frame is not None and frame.f_globals.get("__name__", "").startswith("pycnn.ops."):
        if not frame.f_code.co_name.startswith("_"):
            name = f"{frame.f_globals['__name__']}.{frame.f_code.co_name}"
        frame = frame.f_back
    return name
