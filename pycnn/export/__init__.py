"""Model export. ``export_onnx`` needs the optional ``onnx`` package
(``pip install pycnn[onnx]``)."""


def export_onnx(model, filepath, opset=17, batch_size=None):
    """Write ``model``'s inference graph to ``filepath`` as ONNX (see
    ``pycnn.export.onnx_export.export_onnx``)."""
    try:
        from pycnn.export.onnx_export import export_onnx as _export
    except ImportError as e:
        if getattr(e, "name", None) == "onnx" or "onnx" in str(e).split("'")[1:2]:
            raise ImportError("Exporting to ONNX needs the `onnx` package: "
                              "pip install onnx") from e
        raise
    return _export(model, filepath, opset=opset, batch_size=batch_size)


__all__ = ["export_onnx"]
