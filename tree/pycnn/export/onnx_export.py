"""``export_onnx(model, filepath)``: the inference graph of a pycnn model as
an ONNX file, weights included, Keras's (channels-last) layout at the
inputs and outputs."""
import os

import onnx
from onnx import TensorProto, helper

from pycnn.export import onnx_core, onnx_recurrent, onnx_registry, onnx_resample, onnx_spatial
from pycnn.export.onnx_builder import GraphBuilder, Value, identity

# Importing the converter modules registers their converters.
CONVERTER_MODULES = (onnx_core, onnx_recurrent, onnx_resample, onnx_spatial)
MIN_OPSET = 13  # Squeeze/Unsqueeze/Split take their axes as inputs from here on


def _is_model(layer):
    from pycnn.models.functional import Model
    return isinstance(layer, Model)


def _as_list(x):
    return list(x) if isinstance(x, list) else [x]


def emit_layer(b, layer, inputs):
    """Convert one layer call; returns its output Values."""
    if _is_model(layer):
        return emit_model(b, layer, inputs)
    outs = onnx_registry.find(layer)(b, layer, inputs)
    in_shapes = [v.shape for v in inputs] if layer._multi_input else inputs[0].shape
    shapes = _as_list(layer.compute_output_shape(in_shapes))
    if len(shapes) != len(outs):
        raise RuntimeError(f"ONNX export: converter of '{layer.name}' returned "
                           f"{len(outs)} outputs, the layer has {len(shapes)}")
    return [Value(o[0], tuple(s), tuple(o[1]), o[2] if len(o) > 2 else TensorProto.FLOAT)
            for o, s in zip(outs, shapes)]


def emit_model(b, model, inputs):
    """Inline ``model``'s graph on ``inputs`` (a list of Values)."""
    if getattr(model, "_is_sequential", False):
        values = inputs
        for layer in model._stack:
            values = emit_layer(b, layer, values)
        return values
    known = {id(t): v for t, v in zip(model.inputs, inputs)}
    for node in model._nodes:
        outs = emit_layer(b, node.layer, [known[id(t)] for t in node.inputs])
        for t, v in zip(node.outputs, outs):
            known[id(t)] = v
    return [known[id(t)] for t in model.outputs]


def _index_only(model, index):
    """Whether input ``index`` of ``model`` feeds only Embedding layers (then
    the ONNX input holds int64 indices)."""
    from pycnn.layers.embedding import Embedding
    if getattr(model, "_is_sequential", False):
        first = model._stack[0] if model._stack else None
        return isinstance(first, Embedding) or \
            (first is not None and _is_model(first) and _index_only(first, 0))
    target = model.inputs[index]
    users = [(node, i) for node in model._nodes for i, t in enumerate(node.inputs)
             if t is target]
    if not users:
        return False
    return all(isinstance(node.layer, Embedding) or
               (_is_model(node.layer) and _index_only(node.layer, i))
               for node, i in users)


def _dims(shape, batch):
    return [batch] + [d for d in shape[1:]]


def _ensure_built(model):
    if not model.built or not model.inputs:
        raise ValueError(
            f"ONNX export: model '{model.name}' is not built yet; give it an input "
            "shape (Input/InputLayer or input_shape=) or call it on data first")


def build_onnx_model(model, opset=17, batch_size=None):
    """The ``onnx.ModelProto`` of ``model``'s inference graph."""
    if not _is_model(model):
        raise TypeError(f"export_onnx expects a pycnn Model, got {type(model).__name__}")
    if opset < MIN_OPSET:
        raise ValueError(f"ONNX export needs opset >= {MIN_OPSET}, got {opset}")
    _ensure_built(model)
    b = GraphBuilder(opset)
    graph_inputs, values = [], []
    for i, t in enumerate(model.inputs):
        batch = batch_size if batch_size is not None else (t.shape[0] or "batch")
        dtype = TensorProto.INT64 if _index_only(model, i) else TensorProto.FLOAT
        name = b.reserve(t.name or f"input_{i}")
        graph_inputs.append(helper.make_tensor_value_info(name, dtype, _dims(t.shape, batch)))
        values.append(Value(name, t.shape, identity(len(t.shape)), dtype))
    # Output names are claimed first so that they stay the Keras names.
    out_names = [b.reserve(t.name or f"output_{i}") for i, t in enumerate(model.outputs)]
    outs = emit_model(b, model, values)
    graph_outputs = []
    for t, v, name in zip(model.outputs, outs, out_names):
        b.nodes.append(helper.make_node("Identity", [b.keras(v)], [name],
                                        name=b.fresh(f"{name}_Identity")))
        batch = batch_size if batch_size is not None else (t.shape[0] or "batch")
        graph_outputs.append(helper.make_tensor_value_info(name, v.dtype,
                                                           _dims(v.shape, batch)))
    _fold_output_identities(b.nodes, {i.name for i in graph_inputs})
    graph = helper.make_graph(b.nodes, model.name, graph_inputs, graph_outputs,
                              initializer=b.initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="pycnn",
                              ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(proto)
    return proto


def _fold_output_identities(nodes, input_names):
    """Name a node's output after the graph output it feeds, instead of
    copying it through Identity, when nothing else reads it."""
    producers = {out: n for n in nodes for out in n.output}
    for node in list(nodes):
        if node.op_type != "Identity":
            continue
        src, dst = node.input[0], node.output[0]
        producer = producers.get(src)
        readers = [n for n in nodes if src in n.input]
        if producer is None or src in input_names or len(readers) != 1:
            continue
        idx = list(producer.output).index(src)
        producer.output[idx] = dst
        producers[dst] = producer
        nodes.remove(node)


def export_onnx(model, filepath, opset=17, batch_size=None):
    """Write ``model``'s inference graph to ``filepath`` as ONNX.

    Inputs and outputs are channels-last, as in Keras, with a dynamic batch
    dimension named ``'batch'`` unless ``batch_size`` fixes it. Layers ONNX
    cannot express raise NotImplementedError naming the layer and its class.
    """
    proto = build_onnx_model(model, opset=opset, batch_size=batch_size)
    filepath = os.fspath(filepath)
    tmp = filepath + ".tmp"
    onnx.save(proto, tmp)
    os.replace(tmp, filepath)  # a failed export never leaves half a file
    return filepath
