"""Read and write model weights in Keras 3's ``.weights.h5`` layout.

Writing follows ``layout.weight_groups`` plus ``optimizer/vars`` (iterations,
learning rate, then the slot variables in the optimizer's own order).
Loading reads and checks every array against the model first and assigns
only once everything fits, so a failed load leaves the model unchanged.
"""
import warnings

import numpy as np

from pycnn.saving import optimizer_state
from pycnn.saving.layout import keras_trainable_variables, weight_groups


# ----------------------------------------------------------------- writing ---
def write_weights(model, h5file, include_optimizer=True):
    """Write the weights of ``model`` (and its optimizer state) into an open
    h5py File/Group."""
    for group in weight_groups(model):
        vars_group = _create_vars_group(h5file, group.vars_path, group.name)
        for i, variable in enumerate(group.variables):
            vars_group.create_dataset(str(i), data=np.asarray(variable.numpy(), np.float32))
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None:
        vars_group = _create_vars_group(h5file, "optimizer/vars", optimizer.name)
        state = optimizer_state.get_state(optimizer, keras_trainable_variables(model))
        for i, value in enumerate(state):
            vars_group.create_dataset(str(i), data=value)


def _create_vars_group(h5file, vars_path, name):
    group = h5file.create_group(vars_path)
    group.attrs["name"] = str(name)
    return group


# ----------------------------------------------------------------- loading ---
class _LoadPlan:
    """The (variable, array) pairs to assign, gathered before any change."""

    def __init__(self):
        self.assignments = []
        self.optimizer_state = None

    def apply(self, model):
        for variable, value in self.assignments:
            variable.assign(value)
        if self.optimizer_state is not None:
            optimizer_state.set_state(model.optimizer, self.optimizer_state,
                                      keras_trainable_variables(model))


def read_weights(model, h5file, filepath, skip_mismatch=False):
    """Load every weight of ``model`` from an open h5py File.

    Raises ValueError (naming ``filepath`` and the layer) when a layer's
    weights are missing, have the wrong count or shape, or when the file
    holds weights for layers the model does not have; nothing is assigned
    then. With ``skip_mismatch=True`` such layers are skipped with a warning.
    """
    plan = _LoadPlan()
    expected_paths = set()
    for group in weight_groups(model):
        expected_paths.add(group.vars_path)
        arrays = _read_group_arrays(h5file, group.vars_path)
        problem = _mismatch(group, arrays)
        if problem is None:
            plan.assignments.extend(zip(group.variables, arrays))
            continue
        message = (f"Cannot load weights from '{filepath}' into model '{model.name}': "
                   f"{problem}. The file was saved from a different architecture.")
        if not skip_mismatch:
            raise ValueError(message)
        warnings.warn(message + " Skipping this layer (skip_mismatch=True).", stacklevel=3)
    if not skip_mismatch:
        _check_no_extra_layers(h5file, expected_paths, filepath, model)
    plan.optimizer_state = _plan_optimizer(model, h5file)
    plan.apply(model)


def _read_group_arrays(h5file, vars_path):
    """The datasets ``0, 1, ...`` of a ``vars`` group ([] when absent)."""
    if vars_path not in h5file:
        return None
    group = h5file[vars_path]
    keys = sorted((k for k in group.keys() if k.isdigit()), key=int)
    try:
        return [np.asarray(group[k][()]) for k in keys]
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"Cannot read '{vars_path}': the file is corrupt ({e})") from e


def _mismatch(group, arrays):
    """Why ``arrays`` cannot go into ``group``'s variables, or None."""
    where = f"layer '{group.owner.name}' (weights group '{group.vars_path}')"
    found = 0 if arrays is None else len(arrays)
    if found != len(group.variables):
        return (f"{where} expected {len(group.variables)} variables, but the file has "
                f"{found}" + ("" if arrays is not None else " (no such group)"))
    for variable, array in zip(group.variables, arrays):
        if tuple(array.shape) != tuple(variable.shape):
            return (f"{where}: variable '{variable.name}' expected shape "
                    f"{tuple(variable.shape)}, found shape {tuple(array.shape)}")
    return None


def _check_no_extra_layers(h5file, expected_paths, filepath, model):
    """A file with weights for layers the model lacks is another architecture."""
    found = []

    def visit(name, obj):
        if name.endswith("vars") and name.split("/")[-1] == "vars" \
                and not name.startswith("optimizer") and len(obj.keys()) > 0:
            found.append(name)
    if "layers" in h5file:
        h5file["layers"].visititems(lambda n, o: visit("layers/" + n, o))
    for name in sorted(found):
        if name not in expected_paths:
            raise ValueError(
                f"Cannot load weights from '{filepath}' into model '{model.name}': the file "
                f"has weights for a layer the model does not have ('{name}'). The file "
                "was saved from a different architecture.")


def _plan_optimizer(model, h5file):
    """The optimizer state to restore, or None (Keras skips it with a warning
    when it does not fit)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or "optimizer/vars" not in h5file:
        return None
    state = _read_group_arrays(h5file, "optimizer/vars")
    if not hasattr(optimizer, "set_state"):
        return None
    variables = keras_trainable_variables(model)
    current = optimizer_state.get_state(optimizer, variables)
    if len(state) != len(current):
        # Slots exist only after the first step; create them as Keras does
        # (on the model's trainable variables) so the saved ones can go in.
        optimizer_state.build(optimizer, variables)
        current = optimizer_state.get_state(optimizer, variables)
    if len(current) != len(state):
        warnings.warn(
            f"Skipping variable loading for optimizer '{optimizer.name}', because it has "
            f"{len(current)} variables whereas the saved optimizer has {len(state)} "
            "variables.", stacklevel=4)
        return None
    for i, (have, saved) in enumerate(zip(current, state)):
        if np.shape(have) != np.shape(saved):
            warnings.warn(
                f"Skipping variable loading for optimizer '{optimizer.name}': saved "
                f"variable {i} has shape {np.shape(saved)}, expected {np.shape(have)}.",
                stacklevel=4)
            return None
    return state
