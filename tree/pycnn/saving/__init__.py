"""Saving and loading in Keras 3's formats.

* ``.weights.h5`` — the weights (and optimizer state), in exactly the HDF5
  layout Keras 3 writes, so files move both ways between pycnn and Keras;
* ``.keras`` — a zip of ``metadata.json``, ``config.json`` (Keras 3
  serialization) and ``model.weights.h5``.

Writes are atomic; loads check everything before changing anything. h5py
is needed only here (``pip install h5py``).
"""
from pycnn.saving.api import load_model, load_weights, save_model, save_weights

__all__ = ["save_weights", "load_weights", "save_model", "load_model"]
