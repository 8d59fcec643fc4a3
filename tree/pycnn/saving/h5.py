"""Lazy access to h5py, an optional dependency."""


def import_h5py():
    try:
        import h5py
    except ImportError as e:
        raise ImportError(
            "Saving and loading weights (.weights.h5, .keras) needs the h5py package: "
            "`pip install h5py`") from e
    return h5py


def open_h5_for_reading(source, filepath_for_errors):
    """Open a path or file object as HDF5; a damaged file is a ValueError
    naming it."""
    h5py = import_h5py()
    try:
        return h5py.File(source, "r")
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise ValueError(
            f"Cannot read weights from '{filepath_for_errors}': the file is not a valid "
            f"HDF5 weights file (truncated or corrupt?): {e}") from e
