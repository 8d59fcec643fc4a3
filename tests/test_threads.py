"""Thread policy: cgroup-quota default, threadpoolctl, OpenBLAS coexistence,
fork safety, and concurrent predict / fit on one model."""
import ast
import multiprocessing as mp
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import pycnn
from pycnn import _threads, layers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _mlp(seed=0):
    pycnn.random.set_seed(seed) if hasattr(pycnn.random, "set_seed") else None
    m = pycnn.Sequential([layers.Input((64,)), layers.Dense(256, activation="relu"),
                          layers.Dense(256, activation="tanh"), layers.Dense(8)])
    rng = np.random.default_rng(seed)
    m.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.1
                   for w in m.get_weights()])
    return m


def _run(code, env_extra=None, timeout=120):
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "PYCNN_BIND_WORKERS",
                "OMP_PROC_BIND", "OMP_PLACES", "GOMP_CPU_AFFINITY"):
        env.pop(key, None)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(pycnn.__file__))
    env.update(env_extra or {})
    # cwd: the folder holding the pycnn under test, so `python -c` (which puts
    # the cwd first on sys.path) cannot pick up a source checkout without _C.
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=env["PYTHONPATH"])


# ----- the cgroup default --------------------------------------------------------------
def _fake_v2(tmp_path, cpu_max, own=None):
    root = tmp_path / "cg2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (root / "cpu.max").write_text("max 100000\n")
    rel = "/"
    if own is not None:
        d = root / "kube" / "pod"
        d.mkdir(parents=True)
        (d / "cpu.max").write_text(own)
        rel = "/kube/pod"
    (root / "cpu.max").write_text(cpu_max)
    proc = tmp_path / "proc_cgroup"
    proc.write_text(f"0::{rel}\n")
    return str(root), str(proc)


def _fake_v1(tmp_path, quota, period):
    root = tmp_path / "cg1"
    (root / "cpu,cpuacct" / "docker" / "abc").mkdir(parents=True)
    d = root / "cpu,cpuacct" / "docker" / "abc"
    (d / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (d / "cpu.cfs_period_us").write_text(f"{period}\n")
    proc = tmp_path / "proc_cgroup"
    proc.write_text("4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")
    return str(root), str(proc)


def test_cgroup_v2_quota(tmp_path):
    root, proc = _fake_v2(tmp_path, "max 100000\n", own="150000 100000\n")
    assert _threads.cgroup_cpu_quota(root, proc) == pytest.approx(1.5)
    assert _threads.default_num_threads(root, proc) == 1  # floor(1.5), capped by affinity


def test_cgroup_v2_parent_limits_child(tmp_path):
    root, proc = _fake_v2(tmp_path, "100000 100000\n", own="400000 100000\n")
    assert _threads.cgroup_cpu_quota(root, proc) == pytest.approx(1.0)


def test_cgroup_v2_unlimited_uses_affinity(tmp_path):
    root, proc = _fake_v2(tmp_path, "max 100000\n")
    assert _threads.cgroup_cpu_quota(root, proc) is None
    assert _threads.default_num_threads(root, proc) == len(os.sched_getaffinity(0))


def test_cgroup_v1_quota(tmp_path):
    root, proc = _fake_v1(tmp_path, 50000, 100000)
    assert _threads.cgroup_cpu_quota(root, proc) == pytest.approx(0.5)
    assert _threads.default_num_threads(root, proc) == 1   # never below 1
    (tmp_path / "b").mkdir()
    root2, proc2 = _fake_v1(tmp_path / "b", -1, 100000)   # -1: no quota
    assert _threads.cgroup_cpu_quota(root2, proc2) is None


def test_cgroup_missing_files(tmp_path):
    assert _threads.cgroup_cpu_quota(str(tmp_path / "nope"), str(tmp_path / "nope2")) is None


def test_default_when_nothing_given():
    r = _run("import pycnn, pycnn._threads as t, os;"
             "print(pycnn.get_num_threads(), t.default_num_threads(),"
             " 'OMP_NUM_THREADS' in os.environ)")
    assert r.returncode == 0, r.stderr
    got, want, leaked = r.stdout.split()
    assert got == want
    assert leaked == "False"        # the environment is left as the user gave it


def test_spin_count_set_while_libgomp_loads_only(monkeypatch):
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with _threads.default_threads_env():
        assert os.environ["GOMP_SPINCOUNT"] == _threads.SPIN_COUNT
    assert "GOMP_SPINCOUNT" not in os.environ


@pytest.mark.parametrize("given", [{"GOMP_SPINCOUNT": "300000"}, {"OMP_WAIT_POLICY": "active"}])
def test_user_wait_settings_win(monkeypatch, given):
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    for k, v in given.items():
        monkeypatch.setenv(k, v)
    with _threads.default_threads_env():
        assert os.environ.get("GOMP_SPINCOUNT") == given.get("GOMP_SPINCOUNT")
    assert os.environ.get("GOMP_SPINCOUNT") == given.get("GOMP_SPINCOUNT")
    assert os.environ.get("OMP_WAIT_POLICY") == given.get("OMP_WAIT_POLICY")


def test_import_leaves_no_spin_setting_behind():
    r = _run("import pycnn, os; print('GOMP_SPINCOUNT' in os.environ)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_default_respects_affinity():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs")
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
            "import pycnn; print(pycnn.get_num_threads())")
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


# ----- worker placement ------------------------------------------------------------
# A GEMM big enough for every thread, then the CPUs the process's single-CPU
# threads are bound to (pycnn's OpenMP workers; NumPy's own threads keep the
# whole mask) and whether the calling thread's mask is still the one it had.
_PLACEMENT_PROBE = """
import os, threading, numpy as np, pycnn
from pycnn import _C
cpus = sorted(os.sched_getaffinity(0))
pycnn.set_num_threads({threads})
a = np.ones((512, 512), np.float32)
_C.gemm(a, a, False, False, None, 0, 0.0, None)
me = threading.get_native_id()
masks = [os.sched_getaffinity(int(t)) for t in os.listdir("/proc/self/task") if int(t) != me]
bound = sorted(min(m) for m in masks if len(m) == 1)
print(len(cpus), sorted(os.sched_getaffinity(0)) == cpus, bound)
"""


def _placement(threads, env_extra=None):
    r = _run(_PLACEMENT_PROBE.format(threads=threads), env_extra)
    assert r.returncode == 0, r.stderr
    n, caller_unchanged, bound = r.stdout.strip().split(" ", 2)
    return int(n), caller_unchanged == "True", ast.literal_eval(bound)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_workers_are_bound_when_a_team_takes_every_cpu():
    n = len(os.sched_getaffinity(0))
    cpus, caller_unchanged, bound = _placement(n)
    assert cpus == n
    assert caller_unchanged  # the caller is never bound (threads it creates would inherit it)
    assert len(bound) == n - 1 and len(set(bound)) == n - 1
    assert set(bound) <= os.sched_getaffinity(0)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
@pytest.mark.parametrize("threads,env", [
    (None, {"PYCNN_BIND_WORKERS": "0"}),  # switched off
    (None, {"OMP_PROC_BIND": "false"}),   # the user manages binding through OpenMP
    ("oversubscribed", {}),               # more threads than CPUs: left to the scheduler
])
def test_workers_stay_unbound(threads, env):
    n = len(os.sched_getaffinity(0))
    threads = n + 1 if threads == "oversubscribed" else n
    _, caller_unchanged, bound = _placement(threads, env)
    assert caller_unchanged
    assert bound == []


def test_omp_num_threads_wins():
    r = _run("import pycnn; print(pycnn.get_num_threads())", {"OMP_NUM_THREADS": "3"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"


def test_set_num_threads_reaches_other_threads():
    before = pycnn.get_num_threads()
    try:
        pycnn.set_num_threads(3)
        seen = []
        t = threading.Thread(target=lambda: seen.append(pycnn.get_num_threads()))
        t.start()
        t.join()
        assert seen == [3] and pycnn.get_num_threads() == 3
    finally:
        pycnn.set_num_threads(before)


def test_set_num_threads_rejects_bad():
    for bad in (0, -1):
        with pytest.raises(ValueError, match="set_num_threads"):
            pycnn.set_num_threads(bad)


# ----- threadpoolctl ----------------------------------------------------------------------
def test_threadpoolctl_sees_and_limits_pycnn():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    info = threadpoolctl.threadpool_info()
    gomp = [i for i in info if i["internal_api"] == "openmp"]
    assert gomp, info
    before = pycnn.get_num_threads()
    with threadpoolctl.threadpool_limits(1):
        assert pycnn.get_num_threads() == 1
        m = _mlp()
        x = np.random.default_rng(0).standard_normal((128, 64)).astype("float32")
        one = m.predict(x, verbose=0)
    assert pycnn.get_num_threads() == before
    np.testing.assert_array_equal(one, m.predict(x, verbose=0))   # same sums, any thread count
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert pycnn.get_num_threads() == 1


def test_openblas_and_pycnn_in_one_process():
    """numpy's BLAS pool and pycnn's OpenMP pool run side by side, from
    several threads at once, and both give right answers."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 300))
    m = _mlp()
    x = rng.standard_normal((256, 64)).astype("float32")
    want_np, want_m = a @ a, m.predict(x, verbose=0)
    errors = []

    def work(i):
        try:
            for _ in range(3):
                if i % 2:
                    np.testing.assert_allclose(a @ a, want_np, rtol=1e-10)
                else:
                    np.testing.assert_array_equal(m.predict(x, verbose=0), want_m)
        except Exception as e:       # pragma: no cover - reported below
            errors.append(e)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors, errors


# ----- fork ---------------------------------------------------------------------------------
_FORK_MODEL = None


def _predict_in_child(x):
    return _FORK_MODEL.predict(x, verbose=0), pycnn._C.forked_single_threaded()


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_fork_after_parallel_kernels_does_not_hang():
    global _FORK_MODEL
    _FORK_MODEL = _mlp()
    x = np.random.default_rng(2).standard_normal((512, 64)).astype("float32")
    pycnn.set_num_threads(max(2, pycnn.get_num_threads()))
    want = _FORK_MODEL.predict(x, verbose=0)    # starts libgomp's thread pool here
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        out = pool.map_async(_predict_in_child, [x, x]).get(timeout=60)
    for y, single in out:
        np.testing.assert_array_equal(y, want)
        assert single                            # the child runs its kernels serially
    assert not pycnn._C.forked_single_threaded()


# ----- concurrency on one model -----------------------------------------------------------
def test_concurrent_predict_matches_serial():
    m = _mlp()
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((int(n), 64)).astype("float32") for n in rng.integers(1, 200, 8)]
    want = [m.predict(x, verbose=0) for x in xs]
    got = [None] * len(xs)

    def work(i):
        for _ in range(3):
            got[i] = m.predict(xs[i], verbose=0)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    [t.start() for t in ts]
    [t.join() for t in ts]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_predict_never_sees_half_updated_weights():
    """While fit runs in one thread, every predict in another equals the model
    evaluated at one of the weight snapshots between steps."""
    m = pycnn.Sequential([layers.Input((4,)), layers.Dense(3)])
    m.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = rng.standard_normal((64, 3)).astype("float32")
    probe = np.eye(4, dtype="float32")
    snapshots, lock = [m.get_weights()], threading.Lock()

    class Snap(pycnn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            with lock:
                snapshots.append(self.model.get_weights())

    seen, done = [], threading.Event()

    def reader():
        while not done.is_set():
            seen.append(m.predict_on_batch(probe))
    t = threading.Thread(target=reader)
    t.start()
    try:
        m.fit(x, y, batch_size=1, epochs=2, verbose=0, shuffle=False, callbacks=[Snap()])
    finally:
        done.set()
        t.join()
    assert seen
    outs = [probe @ k + b for k, b in snapshots]
    for s in seen:
        assert any(np.allclose(s, o, atol=1e-6) for o in outs)


def test_model_lock_is_reentrant_and_exclusive():
    lock = _threads.ModelLock()
    with lock.write():
        with lock.write(), lock.read():
            pass
    with lock.read(), lock.read():
        with pytest.raises(RuntimeError, match="own predict"):
            with lock.write():
                pass
    order = []

    def writer():
        with lock.write():
            order.append("w")
    with lock.read():
        t = threading.Thread(target=writer)
        t.start()
        t.join(0.2)
        assert order == []                   # the writer waits for the reader
    t.join(5)
    assert order == ["w"]
