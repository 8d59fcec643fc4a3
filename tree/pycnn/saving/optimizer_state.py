"""An optimizer's state as the list Keras saves: iterations, learning rate
(unless a schedule), then the slot variables, slots ordered by Keras's
``model.trainable_variables`` (``layout.keras_trainable_variables``).

pycnn optimizers keep slots per variable in the order they first saw the
variables; these helpers re-key them to the Keras order so files agree
with Keras whatever order training built them in.
"""
import numpy as np


def _slot_table(optimizer):
    """{id(variable): {slot name: Variable}} and the slot groups, or None
    when the optimizer does not expose per-variable slots."""
    slots = getattr(optimizer, "_slots", None)
    groups = getattr(optimizer, "_slot_groups", None)
    if not isinstance(slots, dict) or groups is None:
        return None
    return {key: entry[1] for key, entry in slots.items()}, groups()


def _ordered_slot_variables(optimizer, variables):
    table = _slot_table(optimizer)
    if table is None:
        return None
    by_variable, groups = table
    if any(id(v) not in by_variable for v in variables) or len(variables) != len(by_variable):
        return None  # built on other variables: keep the optimizer's own order
    return [by_variable[id(v)][name] for group in groups
            for v in variables for name in group]


def get_state(optimizer, variables):
    """The arrays to save, slots in the order of ``variables``."""
    state = [np.asarray(a) for a in optimizer.get_state()]
    ordered = _ordered_slot_variables(optimizer, variables)
    if ordered is None:
        return state
    n_slots = len(ordered)
    return state[:len(state) - n_slots] + [s.numpy() for s in ordered]


def build(optimizer, variables):
    if hasattr(optimizer, "build"):
        optimizer.build(variables)


def set_state(optimizer, state, variables):
    """Restore ``get_state(optimizer, variables)`` output (shapes already
    checked by the caller)."""
    ordered = _ordered_slot_variables(optimizer, variables)
    if ordered is None:
        optimizer.set_state(state)
        return
    head = len(state) - len(ordered)
    current = list(optimizer.get_state())
    optimizer.set_state(list(state[:head]) + [np.asarray(a) for a in current[head:]])
    for slot, value in zip(ordered, state[head:]):
        slot.assign(value)
