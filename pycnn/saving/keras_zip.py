"""The ``.keras`` zip archive: metadata.json, config.json, model.weights.h5.

Reading treats the archive as untrusted: member names must be plain
relative paths (no absolute paths, no ``..``), sizes are bounded, only
pycnn's own classes are built from the config, and every weight is checked
against the rebuilt model before it is copied in.
"""
import datetime
import io
import json
import os
import posixpath
import zipfile

from pycnn.saving.h5 import import_h5py, open_h5_for_reading

METADATA_FILENAME = "metadata.json"
CONFIG_FILENAME = "config.json"
WEIGHTS_FILENAME = "model.weights.h5"
# The Keras release whose .keras format pycnn writes.
KERAS_FORMAT_VERSION = "3.5.0"
_MAX_CONFIG_BYTES = 64 << 20
_MAX_EXPANSION = 100        # a member may not decompress to more than 100x its size
_EXPANSION_FLOOR = 1 << 28  # ... once it is larger than 256 MiB


def write_archive(zip_path, config_json, weights_bytes):
    """Write the three members, uncompressed as Keras writes them."""
    metadata = {"keras_version": KERAS_FORMAT_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(METADATA_FILENAME, json.dumps(metadata))
        zf.writestr(CONFIG_FILENAME, config_json)
        zf.writestr(WEIGHTS_FILENAME, weights_bytes)


def weights_to_bytes(model, include_optimizer):
    from pycnn.saving.weights_h5 import write_weights
    h5py = import_h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write_weights(model, f, include_optimizer=include_optimizer)
    return buffer.getvalue()


class MissingArchiveError(FileNotFoundError, ValueError):
    """A missing ``.keras`` file: Keras's load_model raises ValueError ("File not
    found"), pycnn raised FileNotFoundError, so this is both."""


class SafeArchive:
    """A ``.keras`` file opened for reading, after checking its members."""

    def __init__(self, filepath):
        self.filepath = os.fspath(filepath)
        if not os.path.exists(self.filepath):
            raise MissingArchiveError(
                f"File not found: filepath={self.filepath}. Please ensure the file is an "
                "accessible `.keras` zip file.")
        try:
            self._zip = zipfile.ZipFile(self.filepath, "r")
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise ValueError(f"Cannot load '{self.filepath}': not a valid .keras (zip) "
                             f"archive; the file is truncated or corrupt ({e})") from e
        try:
            self._check_members()
        except BaseException:
            self._zip.close()
            raise

    def _check_members(self):
        for info in self._zip.infolist():
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or posixpath.isabs(name) or ":" in parts[0] \
                    or ".." in parts:
                raise ValueError(
                    f"Refusing to load '{self.filepath}': the archive member '{name}' has an "
                    "absolute path or a '..' component (path traversal)")
            if info.file_size > _EXPANSION_FLOOR and \
                    info.file_size > _MAX_EXPANSION * max(info.compress_size, 1):
                raise ValueError(
                    f"Refusing to load '{self.filepath}': the archive member '{name}' "
                    "decompresses to far more than it stores (zip bomb?)")

    def read(self, name, limit=None):
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            raise ValueError(f"Cannot load '{self.filepath}': the archive has no "
                             f"'{name}'; it is not a Keras 3 .keras file") from None
        if limit is not None and info.file_size > limit:
            raise ValueError(f"Cannot load '{self.filepath}': '{name}' is too large")
        try:
            return self._zip.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise ValueError(f"Cannot load '{self.filepath}': the member '{name}' is "
                             f"corrupt or truncated ({e})") from e

    def read_config(self):
        raw = self.read(CONFIG_FILENAME, limit=_MAX_CONFIG_BYTES)
        try:
            config = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"Cannot load '{self.filepath}': config.json is not valid "
                             f"JSON ({e})") from e
        if not isinstance(config, dict):
            raise ValueError(f"Cannot load '{self.filepath}': config.json does not hold a "
                             "model config")
        return config

    def open_weights(self):
        """The weights as an open h5py File (in memory)."""
        raw = self.read(WEIGHTS_FILENAME)
        return open_h5_for_reading(io.BytesIO(raw), f"{self.filepath}:{WEIGHTS_FILENAME}")

    def close(self):
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
