"""TensorFlow-Keras: the same Keras models as pycnn (bench/networks.py) with
train_on_batch / predict_on_batch. Runs in its own interpreter (a venv with
tensorflow-cpu), one process per thread count: TF fixes its thread pools at
start-up."""
import os

from bench import networks
from bench.workloads import network_data

name = "tf"


def available():
    try:
        import tensorflow  # noqa: F401
        return True
    except ImportError:
        return False


def info():
    import keras
    import tensorflow as tf
    return {"version": tf.__version__, "keras": keras.__version__}


def set_threads(n):
    os.environ["OMP_NUM_THREADS"] = str(n)  # oneDNN's pool, if TF uses OpenMP
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def make(w, threads):
    if not w.network:
        return {}
    import keras
    runner = getattr(networks, f"{w.network}_keras")(keras)
    x, y = network_data(w.network, w.batch)
    if w.kind == "train":
        return {"": lambda: runner.train_step(x, y)}
    return {"": lambda: runner.predict(x)}
