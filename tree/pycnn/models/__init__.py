"""Models: Model (functional graph), Sequential, and model loading."""
from pycnn.models.functional import Model
from pycnn.models.sequential import Sequential



def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a ``.keras`` file written by pycnn or Keras 3 (see pycnn.saving)."""
    from pycnn.saving import load_model as _load
    return _load(filepath, custom_objects=custom_objects, compile=compile,
                 safe_mode=safe_mode)


__all__ = ["Model", "Sequential", "load_model"]
