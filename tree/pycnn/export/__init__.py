"""Model export. ``export_onnx`` needs the optional ``onnx`` package
(``pip install pycnn[onnx]``)."""


def export_onnx(model, filepath, opset=17, batch_size=None):
    """Write ``model``'s inference graph to ``filepath`` as ONNX: inputs and
    outputs channels-last as in Keras, batch dimension ``'batch'`` (dynamic)
    unless ``batch_size`` fixes it. Layers without an ONNX form raise
    NotImplementedError naming the layer and its class."""
    import importlib.util
    if importlib.util.find_spec("onnx") is None:
        raise ImportError("Exporting to ONNX needs the `onnx` package: pip install onnx")
    from pycnn.export.onnx_export import export_onnx as _export
    return _export(model, filepath, opset=opset, batch_size=batch_size)


__all__ = ["export_onnx"]
