"""Models: Model (functional graph), Sequential, and model loading."""
from pycnn.models.functional import Model
from pycnn.models.sequential import Sequential

__all__ = ["Model", "Sequential"]
