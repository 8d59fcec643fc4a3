"""Thin Python wrappers over pycnn._C, one module per kernel family.

Each wrapper converts its arguments (float32, C-contiguous), checks what only
Python knows, allocates nothing it does not return, and calls one _C function
(which releases the GIL). ``pycnn.reference`` holds a NumPy twin of every
function here, with the same name and signature; tests compare the two.
"""
