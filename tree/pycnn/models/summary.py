"""``model.summary()``: Keras 3's table, rendered as rich renders it for a
plain (non-colour) console, without depending on rich.

Column widths, word wrapping, ellipsis truncation and the heavy-head box are
reproduced from rich's Table so the text matches Keras character for character.
"""
import math
import os
import re
import shutil
import sys

import numpy as np

# rich's HEAVY_HEAD box: (left, fill, divider, right) per kind of line.
_TOP = ("┏", "━", "┳", "┓")
_HEADER_ROW = ("┃", " ", "┃", "┃")
_HEADER_RULE = ("┡", "━", "╇", "┩")
_BODY_ROW = ("│", " ", "│", "│")
_ROW_RULE = ("├", "─", "┼", "┤")
_BOTTOM = ("└", "─", "┴", "┘")


# ----- rich's width arithmetic ------------------------------------------------
def _ratio_reduce(total, ratios, maximums, values):
    """rich._ratio.ratio_reduce: take ``total`` cells away in proportion."""
    ratios = [ratio if maximum else 0 for ratio, maximum in zip(ratios, maximums)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return values[:]
    total_remaining = total
    result = []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * total_remaining / total_ratio))
            result.append(value - distributed)
            total_remaining -= distributed
            total_ratio -= ratio
        else:
            result.append(value)
    return result


def _cell_widths(column_widths, line_length):
    """Widths of each column including its one-space padding on both sides,
    as rich's Table computes them for fixed-width columns and a fixed table
    width."""
    max_width = line_length - (len(column_widths) + 1)   # minus the borders
    widths = [min(w + 2, max_width) for w in column_widths]
    if sum(widths) > max_width:
        widths = _ratio_reduce(sum(widths) - max_width, [1] * len(widths), widths, widths)
    return widths


# ----- rich's text wrapping ---------------------------------------------------
_WORD = re.compile(r"\s*\S+\s*")


def _break_offsets(text, width):
    """rich._wrap.divide_line without folding: where to break ``text``."""
    breaks, offset = [], 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        word_length = len(word.rstrip())
        if width - offset >= word_length:
            offset += len(word)
        elif word_length > width:      # too long for any line: it is cropped later
            if start:
                breaks.append(start)
            offset = len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    return breaks


def _truncate(line, width):
    return line[:width - 1] + "…" if len(line) > width else line


def _wrap_cell(text, width, justify):
    """Lines of exactly ``width`` characters, as rich's Text.wrap with
    overflow='ellipsis'."""
    lines = []
    for paragraph in text.split("\n"):
        cuts = [0] + _break_offsets(paragraph, width) + [len(paragraph)]
        for begin, end in zip(cuts[:-1], cuts[1:]):
            line = paragraph[begin:end]
            if len(line) > width:   # trailing spaces beyond the width go first
                excess = len(line) - width
                trailing = len(line) - len(line.rstrip())
                line = line[:len(line) - min(trailing, excess)]
            if justify == "left":
                line = _truncate(line, width).ljust(width)
            elif justify == "right":
                line = _truncate(line.rstrip(), width).rjust(width)
            else:
                line = _truncate(line.rstrip(), width)
                left = (width - len(line)) // 2
                line = " " * left + line + " " * (width - len(line) - left)
            lines.append(line)
    return lines


def render_table(header, rows, column_widths, alignment, line_length):
    """The table as rich prints ``Table(show_lines=True, box=HEAVY_HEAD)``."""
    widths = _cell_widths(column_widths, line_length)

    def rule(chars):
        left, fill, divider, right = chars
        return left + divider.join(fill * w for w in widths) + right

    def row_lines(cells, chars, is_header=False):
        left, _, divider, right = chars
        wrapped = [_wrap_cell(str(cell), w - 2, align)
                   for cell, w, align in zip(cells, widths, alignment)]
        height = max(len(c) for c in wrapped)
        # rich aligns header cells to the bottom, body cells to the top.
        wrapped = [[" " * (w - 2)] * (height - len(c)) + c if is_header
                   else c + [" " * (w - 2)] * (height - len(c))
                   for c, w in zip(wrapped, widths)]
        return [left + divider.join(" " + c[i] + " " for c in wrapped) + right
                for i in range(height)]

    lines = [rule(_TOP)] + row_lines(header, _HEADER_ROW, is_header=True) + \
        [rule(_HEADER_RULE)]
    for index, row in enumerate(rows):
        if index:
            lines.append(rule(_ROW_RULE))
        lines.extend(row_lines(row, _BODY_ROW))
    lines.append(rule(_BOTTOM))
    return lines


# ----- what goes in the cells -------------------------------------------------
def count_params(weights):
    return int(sum(math.prod(w.shape) for w in weights))


def weight_memory_size(weights):
    """Bytes of the distinct weights (float32 Variables, or NumPy arrays)."""
    unique = {id(w): w for w in weights}.values()
    total = 0
    for w in unique:
        itemsize = np.dtype(getattr(w, "dtype", "float32")).itemsize
        total += math.prod(w.shape) * itemsize
    return float(total)


def readable_memory_size(size):
    for unit in ["B", "KB", "MB", "GB", "TB", "PB"]:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _format_shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def format_layer_shape(layer):
    nodes = getattr(layer, "_inbound_nodes", [])
    if nodes:
        outputs = nodes[-1].outputs
        shapes = [_format_shape(t.shape) for t in outputs]
    else:
        build_shapes = getattr(layer, "_build_shapes", None)
        if build_shapes is None:
            return "?"
        try:
            out = layer.compute_output_shape(build_shapes)
        except Exception:   # a layer that cannot tell: Keras prints '?' too
            return "?"
        shapes = [_format_shape(s) for s in out] if isinstance(out, list) \
            else [_format_shape(out)]
    if len(shapes) == 1:
        return shapes[0]
    return "[" + ", ".join(shapes) + "]"


def _graph_nodes_by_depth(model):
    """Nodes of a functional model grouped by depth (outputs at depth 0),
    computed from the output tensors' history like Keras's _nodes_by_depth."""
    outputs = getattr(model, "outputs", None)
    if not outputs:
        return None
    order, seen = [], set()

    def visit(node):           # post-order: parents before the node
        if id(node) in seen:
            return
        seen.add(id(node))
        for parent in node.parent_nodes:
            visit(parent)
        order.append(node)

    output_nodes = []
    for tensor in outputs:
        layer, node_index, _ = tensor._keras_history
        output_nodes.append(layer._inbound_nodes[node_index])
    for node in output_nodes:
        visit(node)
    depth = {id(n): 0 for n in output_nodes}
    for node in reversed(order):   # consumers before their parents
        for parent in node.parent_nodes:
            depth[id(parent)] = max(depth.get(id(parent), 0), depth[id(node)] + 1)
    by_depth = {}
    for node in order:
        by_depth.setdefault(depth[id(node)], []).append(node)
    return [by_depth[d] for d in sorted(by_depth)]


def _is_sequential_like(model, nodes_by_depth):
    if getattr(model, "_is_sequential", False) or nodes_by_depth is None:
        return True
    for group in nodes_by_depth:
        if len(group) > 1 or (len(group) == 1 and len(group[0].inputs) > 1):
            return False
    node_ids = {id(n) for group in nodes_by_depth for n in group}
    for layer in model.layers:        # a shared layer makes it a graph
        if sum(id(n) in node_ids for n in layer._inbound_nodes) > 1:
            return False
    return True


def _connections(layer, relevant_node_ids):
    parts = []
    for node in layer._inbound_nodes:
        if relevant_node_ids and id(node) not in relevant_node_ids:
            continue
        for tensor in node.inputs:
            inbound, node_index, tensor_index = tensor._keras_history
            parts.append(f"{inbound.name}[{node_index}][{tensor_index}]")
    return ", ".join(parts) or "-"


def get_layer_index_bound_by_layer_name(layers, layer_range=None):
    if layer_range is None:
        return [0, len(layers)]
    if len(layer_range) != 2:
        raise ValueError("layer_range must be a list or tuple of length 2. Received: "
                         f"layer_range = {layer_range} of length {len(layer_range)}")
    if not isinstance(layer_range[0], str) or not isinstance(layer_range[1], str):
        raise ValueError(f"layer_range should contain string type only. Received: "
                         f"{layer_range}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError("Passed layer_names do not match the layer names in the model. "
                         f"Received: {layer_range}")
    if min(lower) > max(upper):
        return [min(upper), max(lower) + 1]
    return [min(lower), max(upper) + 1]


def _optimizer_variables(model):
    """The built optimizer's variables, or None (no 'Optimizer params' line)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or getattr(optimizer, "built", True) is False:
        return None
    variables = getattr(optimizer, "variables", None)
    if callable(variables):
        variables = variables()
    variables = [v if hasattr(v, "shape") else np.asarray(v) for v in (variables or [])]
    return variables or None


def _console_width():
    """rich.Console's width: $COLUMNS, else the terminal of stdin/stdout/
    stderr, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    for fd in (0, 1, 2):
        try:
            return os.get_terminal_size(fd).columns
        except OSError:
            continue
    return 80


def summary_lines(model, line_length=None, positions=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    """The summary as a list of lines (no trailing newlines)."""
    layers = list(model.layers)
    nodes_by_depth = None if getattr(model, "_is_sequential", False) \
        else _graph_nodes_by_depth(model)
    sequential_like = _is_sequential_like(model, nodes_by_depth)
    if sequential_like:
        default_line_length = 88
        positions = positions or [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        alignment = ["left", "left", "right"]
        relevant_node_ids = set()
    else:
        default_line_length = 108
        positions = positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
        relevant_node_ids = {id(n) for group in nodes_by_depth for n in group}
    if show_trainable:
        default_line_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        alignment.append("center")
    default_line_length = min(default_line_length, shutil.get_terminal_size().columns - 4)
    line_length = line_length or default_line_length
    column_widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        column_widths.append(width)
        current += width

    def layer_fields(layer, prefix):
        if not getattr(layer, "built", False):
            params = "0 (unbuilt)"
        else:
            params = f"{layer.count_params():,}"
        fields = [f"{prefix}{layer.name} ({type(layer).__name__})",
                  format_layer_shape(layer), params]
        if not sequential_like:
            fields.append(_connections(layer, relevant_node_ids))
        if show_trainable:
            if getattr(layer, "weights", None):
                fields.append("Y" if layer.trainable else "N")
            else:
                fields.append("-")
        return fields

    def layer_rows(layer, nested_level=0):
        prefix = "   " * nested_level + "└ " if nested_level else ""
        rows = [layer_fields(layer, prefix)]
        nested = getattr(layer, "layers", None) if expand_nested else None
        if nested:
            for sub in nested:
                rows.extend(layer_rows(sub, nested_level + 1))
        return rows

    start, stop = get_layer_index_bound_by_layer_name(layers, layer_range)
    rows = [row for layer in layers[start:stop] for row in layer_rows(layer)]

    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    trainable_count, trainable_size = count_params(trainable), weight_memory_size(trainable)
    non_trainable_count = count_params(non_trainable)
    non_trainable_size = weight_memory_size(non_trainable)
    optimizer_variables = _optimizer_variables(model)
    optimizer_count = count_params(optimizer_variables or [])
    optimizer_size = weight_memory_size(optimizer_variables or [])
    total_count = trainable_count + non_trainable_count + optimizer_count
    total_size = trainable_size + non_trainable_size + optimizer_size

    lines = [f'Model: "{model.name}"']
    # rich crops anything wider than the console, even a table asked wider.
    console_width = _console_width()
    lines += [line[:console_width]
              for line in render_table(header, rows, column_widths, alignment, line_length)]
    lines.append(f" Total params: {total_count:,} ({readable_memory_size(total_size)})")
    lines.append(f" Trainable params: {trainable_count:,} "
                 f"({readable_memory_size(trainable_size)})")
    lines.append(f" Non-trainable params: {non_trainable_count:,} "
                 f"({readable_memory_size(non_trainable_size)})")
    if optimizer_variables is not None:
        lines.append(f" Optimizer params: {optimizer_count:,} "
                     f"({readable_memory_size(optimizer_size)})")
    return lines


def print_summary(model, line_length=None, positions=None, print_fn=None,
                  expand_nested=False, show_trainable=False, layer_range=None):
    """Print the summary; ``print_fn`` (if given) receives the whole text in
    one call, as Keras 3 passes it."""
    text = "\n".join(summary_lines(model, line_length, positions, expand_nested,
                                   show_trainable, layer_range)) + "\n"
    if print_fn is not None:
        print_fn(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
