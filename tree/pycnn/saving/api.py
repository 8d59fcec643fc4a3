"""The saving entry points behind Model.save / save_weights / load_weights
and ``pycnn.models.load_model``."""
import json
import os

from pycnn.saving.atomic import atomic_write_path, confirm_overwrite
from pycnn.saving.h5 import import_h5py, open_h5_for_reading


def _path(filepath):
    return os.fspath(filepath)


def save_weights(model, filepath, overwrite=True):
    """Write ``model``'s weights (and optimizer state) as Keras 3 does."""
    filepath = _path(filepath)
    if not str(filepath).endswith(".weights.h5"):
        raise ValueError("The filename must end in `.weights.h5`. "
                         f"Received: filepath={filepath}")
    if not confirm_overwrite(filepath, overwrite):
        return
    from pycnn.saving.weights_h5 import write_weights
    h5py = import_h5py()
    with atomic_write_path(filepath) as tmp_path:
        with h5py.File(tmp_path, "w") as f:
            write_weights(model, f, include_optimizer=True)


def load_weights(model, filepath, skip_mismatch=False):
    """Load weights saved by ``save_weights`` or inside a ``.keras`` file.

    Every array is checked against the model before anything is assigned:
    on error (ValueError naming the file and layer) the model is unchanged.
    """
    from pycnn.saving.keras_zip import SafeArchive
    from pycnn.saving.weights_h5 import read_weights
    filepath = _path(filepath)
    if filepath.endswith(".keras"):
        with SafeArchive(filepath) as archive, archive.open_weights() as f:
            read_weights(model, f, filepath, skip_mismatch=skip_mismatch)
        return
    if not filepath.endswith((".weights.h5", ".h5", ".hdf5")):
        raise ValueError(
            f"File format not supported: filepath={filepath}. pycnn supports the Keras 3 "
            "`.keras` and `.weights.h5` formats.")
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No such file: '{filepath}'")
    with open_h5_for_reading(filepath, filepath) as f:
        if "layers" not in f and "vars" not in f:
            raise ValueError(
                f"Cannot load '{filepath}': it is not in the Keras 3 weights layout "
                "(legacy Keras 2 .h5 files are not supported)")
        read_weights(model, f, filepath, skip_mismatch=skip_mismatch)


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Write ``model`` as a Keras 3 ``.keras`` archive."""
    from pycnn.saving.keras_zip import weights_to_bytes, write_archive
    from pycnn.saving.serialize import serialize_layer
    filepath = _path(filepath)
    if not filepath.endswith(".keras"):
        raise ValueError(
            "Invalid filepath extension for saving. Please add a `.keras` extension for "
            f"the native Keras format. Received: filepath={filepath}")
    if not confirm_overwrite(filepath, overwrite):
        return
    config = serialize_layer(model)
    if not include_optimizer:
        config["compile_config"] = None
    config_json = json.dumps(config)
    weights = weights_to_bytes(model, include_optimizer)
    with atomic_write_path(filepath) as tmp_path:
        write_archive(tmp_path, config_json, weights)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild a model from a ``.keras`` file (pycnn's or Keras 3's).

    ``safe_mode`` is accepted for Keras compatibility: pycnn never runs code
    from a file (no lambdas, no imports, no pickles) whatever its value.
    """
    from pycnn.saving.deserialize import (ConfigError, compile_from_config,
                                          deserialize_layer)
    from pycnn.saving.keras_zip import SafeArchive
    from pycnn.saving.weights_h5 import read_weights
    filepath = _path(filepath)
    if not filepath.endswith(".keras"):
        if filepath.endswith((".h5", ".hdf5")):
            raise ValueError(
                f"Cannot load '{filepath}': legacy HDF5 whole-model files are not "
                "supported; save with model.save('model.keras')")
        raise ValueError(f"File format not supported: filepath={filepath}. pycnn loads "
                         "Keras 3 `.keras` files.")
    with SafeArchive(filepath) as archive:
        config = archive.read_config()
        try:
            model = deserialize_layer(config, custom_objects)
            compile_config = config.get("compile_config")
            if compile and compile_config:
                compile_from_config(model, compile_config, custom_objects)
        except ConfigError as e:
            raise ValueError(f"Cannot load '{filepath}': {e}") from e
        except (KeyError, TypeError, IndexError) as e:
            raise ValueError(f"Cannot load '{filepath}': config.json is malformed "
                             f"({type(e).__name__}: {e})") from e
        with archive.open_weights() as f:
            read_weights(model, f, filepath)
    return model
