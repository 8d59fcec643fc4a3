"""NumPy reference implementations: the twin of every ``pycnn.ops`` function,
with the same name and signature, written for clarity, in float64 where it
helps accuracy. Tests compare the C++ kernels against these and check these
against finite differences.
"""
