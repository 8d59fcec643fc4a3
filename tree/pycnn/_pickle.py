"""Pickling models: ``pickle.dumps(model)`` carries the ``.keras`` archive.

The archive already holds everything that defines a model - architecture,
weights, compile settings and optimizer state - so pickling reuses it instead
of pickling Python internals (layer caches, locks, the C++ module). Models
therefore move through ``multiprocessing``, ``concurrent.futures``, Dask or
Ray, and ``copy.deepcopy(model)`` gives an independent model.
"""
import io
import json
import os
import tempfile


def model_to_bytes(model, include_optimizer=True):
    """The ``.keras`` archive of ``model``, built in memory."""
    from pycnn.saving.keras_zip import weights_to_bytes, write_archive
    from pycnn.saving.serialize import serialize_layer
    config = serialize_layer(model)
    if not include_optimizer:
        config["compile_config"] = None
    weights = weights_to_bytes(model, include_optimizer)
    buffer = io.BytesIO()
    write_archive(buffer, json.dumps(config), weights)
    return buffer.getvalue()


def model_from_bytes(data):
    """Inverse of ``model_to_bytes`` (goes through ``load_model``, so the same
    checks apply as for a file)."""
    from pycnn.saving import load_model
    fd, path = tempfile.mkstemp(suffix=".keras", prefix="pycnn-pickle-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return load_model(path)
    finally:
        os.unlink(path)


def reduce_model(model):
    """``Model.__reduce__``: rebuild from the archive on unpickling."""
    return model_from_bytes, (model_to_bytes(model),)
