"""Models: Model (functional graph), Sequential, and model loading."""
from pycnn.models.functional import Model
from pycnn.models.sequential import Sequential



def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a ``.keras`` file written by pycnn or Keras 3 (see pycnn.saving)."""
    from pycnn.saving import load_model as _load
    return _load(filepath, custom_objects=custom_objects, compile=compile,
                 safe_mode=safe_mode)


def save_model(model, filepath, overwrite=True, **kwargs):
    model.save(filepath, overwrite=overwrite, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """The model (new weights) that ``model.to_json()`` described."""
    import json
    from pycnn.saving.deserialize import deserialize_layer
    return deserialize_layer(json.loads(json_string), custom_objects)


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False, **kwargs):
    """A new model with the same architecture and freshly initialised weights
    (Keras's default cloning: each layer rebuilt from its config)."""
    if input_tensors is not None or clone_function is not None or call_function is not None:
        raise NotImplementedError(
            "clone_model: pycnn supports only the default cloning (no input_tensors, "
            "clone_function or call_function)")
    if not isinstance(model, Model):
        raise ValueError(f"Expected `model` argument to be a `Model` instance. "
                         f"Received: model={model}")
    return type(model).from_config(model.get_config())


__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json",
           "save_model"]
