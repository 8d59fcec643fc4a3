"""Small datasets that ship inside the package (no download)."""
from pycnn.datasets import digits

__all__ = ["digits"]
