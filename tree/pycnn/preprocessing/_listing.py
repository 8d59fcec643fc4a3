"""Finding image files in class sub-folders, in Keras's order."""
import os
import warnings


def require_directory(directory):
    if not os.path.isdir(directory):
        if os.path.exists(directory):
            raise NotADirectoryError(f"Not a directory: '{directory}'")
        raise FileNotFoundError(f"Image directory not found: '{directory}'")


def iter_valid_files(directory, formats, follow_links, warn_tiff=False):
    """(root, filename) of files ending in one of ``formats`` (case-insensitive),
    folders visited in sorted path order, files sorted within a folder."""
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links),
                                 key=lambda entry: entry[0]):
        for fname in sorted(files):
            lower = fname.lower()
            if warn_tiff and lower.endswith(".tiff"):
                warnings.warn('Using ".tiff" files with multiple bands will cause '
                              "distortion. Please verify your output.")
            if lower.endswith(formats):
                yield root, fname


def list_class_files(class_dir, formats, follow_links, split=None, warn_tiff=False):
    """Paths relative to the parent of ``class_dir`` ("cats/001.png", ...).

    ``split`` = (start, stop) fractions keeps ``files[int(start*n):int(stop*n)]``
    of this class's sorted files, so the validation subset (0, v) takes the
    first fraction of every class, as Keras does.
    """
    class_name = os.path.basename(class_dir)
    found = list(iter_valid_files(class_dir, formats, follow_links, warn_tiff))
    if split:
        found = found[int(split[0] * len(found)):int(split[1] * len(found))]
    return [os.path.join(class_name, os.path.relpath(os.path.join(root, fname), class_dir))
            for root, fname in found]


def subdirectories(directory, skip_hidden=False):
    """Sorted names of the folders inside ``directory``."""
    return [name for name in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, name))
            and not (skip_hidden and name.startswith("."))]
