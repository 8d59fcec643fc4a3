"""Batch inference sharded over processes.

Each worker gets the model once (pickled: it travels as its .keras archive)
and runs single-threaded, so N workers use N cores without oversubscription:
OMP_NUM_THREADS=1 is set before the worker imports pycnn, and the initializer
calls pycnn.set_num_threads(1) as well. With Dask or Ray installed the same
shards also run through them; otherwise those parts are skipped.

    python examples/parallel_inference.py [--workers 2] [--samples 4096]
"""
import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

_MODEL = None


def _init_worker(model):
    global _MODEL
    import pycnn
    pycnn.set_num_threads(1)
    _MODEL = model


def _predict_shard(x):
    return _MODEL.predict(x, batch_size=256, verbose=0)


def build_model():
    import pycnn
    from pycnn import layers
    inp = pycnn.Input((28, 28, 1))
    h = layers.Conv2D(16, 3, activation="relu")(inp)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Conv2D(32, 3, activation="relu")(h)
    h = layers.GlobalAveragePooling2D()(h)
    out = layers.Dense(10, activation="softmax")(h)
    return pycnn.Model(inp, out)


def with_processes(model, shards, workers):
    import multiprocessing as mp
    # spawn: a fresh interpreter per worker (fork would inherit the parent's
    # OpenMP pool); the env var reaches the worker before it loads libgomp.
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                 initializer=_init_worker, initargs=(model,)) as ex:
            return list(ex.map(_predict_shard, shards))
    finally:
        os.environ.pop("OMP_NUM_THREADS", None)


def with_dask(model, shards):
    try:
        import dask
        from dask import delayed
    except ImportError:
        return None
    model_d = delayed(model, traverse=False)
    parts = [delayed(lambda m, x: m.predict(x, verbose=0))(model_d, s) for s in shards]
    return list(dask.compute(*parts, scheduler="processes"))


def with_ray(model, shards, workers):
    try:
        import ray
    except ImportError:
        return None
    ray.init(num_cpus=workers, ignore_reinit_error=True, include_dashboard=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    try:
        ref = ray.put(model)
        predict = ray.remote(num_cpus=1)(lambda m, x: m.predict(x, verbose=0))
        return ray.get([predict.remote(ref, s) for s in shards])
    finally:
        ray.shutdown()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--samples", type=int, default=4096)
    args = ap.parse_args()

    model = build_model()
    x = np.random.default_rng(0).random((args.samples, 28, 28, 1), dtype=np.float32)
    t = time.perf_counter()
    want = model.predict(x, batch_size=256, verbose=0)
    print(f"in-process        {time.perf_counter() - t:6.2f} s")
    shards = np.array_split(x, args.workers * 4)

    runs = [("process pool", lambda: with_processes(model, shards, args.workers)),
            ("dask", lambda: with_dask(model, shards)),
            ("ray", lambda: with_ray(model, shards, args.workers))]
    for name, run in runs:
        t = time.perf_counter()
        parts = run()
        if parts is None:
            print(f"{name:<17} skipped (not installed)")
            continue
        got = np.concatenate(parts)
        assert np.allclose(got, want, rtol=1e-5, atol=1e-6), f"{name}: results differ"
        print(f"{name:<17} {time.perf_counter() - t:6.2f} s  (matches in-process)")


if __name__ == "__main__":
    main()
