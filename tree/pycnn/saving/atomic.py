"""Atomic file replacement: a save either completes or leaves the old file.

The new content is written to a temporary file in the target's directory
(same filesystem, so ``os.replace`` is an atomic rename), flushed to disk
with ``fsync``, and only then moved over the target. Any exception on the
way removes the temporary file and leaves the previous target untouched.
"""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write_path(filepath):
    """Yield a temporary path to write; on success it replaces ``filepath``."""
    filepath = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(filepath))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"Cannot save to '{filepath}': the directory '{directory}' does not exist")
    fd, tmp_path = tempfile.mkstemp(prefix="." + os.path.basename(filepath) + ".",
                                    suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp_path
        _fsync_file(tmp_path)
        os.replace(tmp_path, filepath)
        _fsync_directory(directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp_path)
        raise


def _fsync_file(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_directory(directory):
    # Makes the rename itself durable; not possible on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def confirm_overwrite(filepath, overwrite):
    """Keras's rule: with ``overwrite=False`` and an existing file, ask the
    user; without an interactive answer, do not overwrite."""
    if overwrite or not os.path.exists(filepath):
        return True
    try:
        answer = input(f"[WARNING] {filepath} already exists - overwrite? [y/n] ")
    except (EOFError, OSError):
        return False
    return answer.strip().lower() in ("y", "yes")
