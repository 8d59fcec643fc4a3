"""ONNX Runtime inference of the networks, exported from their PyTorch twins
with torch.onnx.export (independent of pycnn's own exporter)."""
import atexit
import os
import shutil
import tempfile

from bench import networks
from bench.workloads import network_data

name = "onnxruntime"
_exported = {}


def available():
    try:
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401  (the exporter)
        return True
    except ImportError:
        return False


def info():
    import onnxruntime
    return {"version": onnxruntime.__version__}


def set_threads(n):
    pass  # per session, in make()


def _export(network):
    """Path of the network's .onnx file, exported once per process."""
    if network not in _exported:
        import torch
        net = getattr(networks, f"{network}_torch")().net.eval()
        x = networks.nchw(network_data(network, 1)[0])
        folder = tempfile.mkdtemp(prefix="pycnn_bench_onnx_")
        atexit.register(shutil.rmtree, folder, True)
        path = os.path.join(folder, f"{network}.onnx")
        torch.onnx.export(net, (x,), path, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
        _exported[network] = path
    return _exported[network]


def make(w, threads):
    if w.kind != "infer":
        return {}
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(_export(w.network), opts, providers=["CPUExecutionProvider"])
    feed = {"x": networks.nchw(network_data(w.network, w.batch)[0]).numpy()}
    return {"": lambda: sess.run(None, feed)}
