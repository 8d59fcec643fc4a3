"""pycnn's default thread count: the container's CPU quota, not the host's cores.

libgomp defaults to one thread per CPU in the affinity mask, but a container
limited by a cgroup CPU quota (``docker --cpus=2`` on a 64-core host) then runs
64 threads on 2 CPUs' worth of time: the kernels' barriers stall whenever the
kernel throttles a thread. When the user gives neither OMP_NUM_THREADS nor
pycnn.set_num_threads, pycnn uses ``min(floor(quota), affinity CPUs)``.

The value reaches libgomp through OMP_NUM_THREADS, set only while ``pycnn._C``
(and so libgomp) loads: that is the one setting every thread, present and
future, inherits. The variable is removed again afterwards so that child
processes and other libraries see the environment the user gave.

libgomp's idle workers also spin for 300,000 pause loops (~15 ms) before they
sleep. Between back-to-back kernels they never sleep, so on a shared machine
the scheduler treats them as CPU hogs and a worker loses whole time slices
while the caller waits for it at the next barrier. With a busy process on the
second core, ResNet50 at batch 1 took 195 ms on 2 threads against 70 ms on 1.
A spin of 10,000 loops (~0.5 ms, still longer than the gap between two layers)
brought that to 80 ms and measured the same as the default on a quiet machine;
pycnn sets it the same way, unless the user set GOMP_SPINCOUNT or
OMP_WAIT_POLICY.
"""
import contextlib
import math
import os
import threading

_CGROUP_ROOT = "/sys/fs/cgroup"


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cgroup_paths(proc_cgroup):
    """{controller or '' (v2): path relative to the hierarchy root}."""
    text = _read(proc_cgroup) or ""
    out = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            out[""] = path
        for c in controllers.split(","):
            out[c] = path
    return out


def _walk_up(base, rel):
    """Directories from the process's own cgroup up to the hierarchy root:
    a parent's quota limits its children too."""
    rel = rel.strip("/")
    dirs = []
    while True:
        d = os.path.join(base, rel) if rel else base
        if os.path.isdir(d):
            dirs.append(d)
        if not rel:
            return dirs
        rel = os.path.dirname(rel)


def _v2_quota(root, rel):
    limits = []
    for d in _walk_up(root, rel):
        text = _read(os.path.join(d, "cpu.max"))
        if not text:
            continue
        fields = text.split()
        if len(fields) >= 2 and fields[0] != "max":
            try:
                quota, period = int(fields[0]), int(fields[1])
            except ValueError:
                continue
            if quota > 0 and period > 0:
                limits.append(quota / period)
    return min(limits) if limits else None


def _v1_quota(root, rel):
    limits = []
    for sub in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        base = os.path.join(root, sub)
        if not os.path.isdir(base):
            continue
        for d in _walk_up(base, rel):
            q = _read(os.path.join(d, "cpu.cfs_quota_us"))
            p = _read(os.path.join(d, "cpu.cfs_period_us"))
            try:
                quota, period = int(q), int(p)
            except (TypeError, ValueError):
                continue
            if quota > 0 and period > 0:
                limits.append(quota / period)
        if limits:
            break
    return min(limits) if limits else None


def cgroup_cpu_quota(root=_CGROUP_ROOT, proc_cgroup="/proc/self/cgroup"):
    """CPUs' worth of time the cgroup allows (e.g. 1.5), or None if unlimited."""
    paths = _cgroup_paths(proc_cgroup)
    if os.path.exists(os.path.join(root, "cgroup.controllers")):   # v2 unified
        return _v2_quota(root, paths.get("", "/"))
    return _v1_quota(root, paths.get("cpu", "/"))


def affinity_cpus():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_num_threads(root=_CGROUP_ROOT, proc_cgroup="/proc/self/cgroup"):
    """min(floor(cgroup quota), CPUs in the affinity mask), at least 1.

    floor, not ceil: with a 1.5-CPU quota, 2 threads get throttled mid-kernel
    and every barrier waits for the throttled one.
    """
    n = affinity_cpus()
    quota = cgroup_cpu_quota(root, proc_cgroup)
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return n


SPIN_COUNT = "10000"


@contextlib.contextmanager
def default_threads_env():
    """Around the first import of pycnn._C: OMP_NUM_THREADS = the default and
    GOMP_SPINCOUNT = SPIN_COUNT, each unless the user set it. Yields the
    default thread count, or None when the user gave OMP_NUM_THREADS."""
    added = {}
    n = None
    if not os.environ.get("OMP_NUM_THREADS"):
        n = default_num_threads()
        added["OMP_NUM_THREADS"] = str(n)
    if not os.environ.get("GOMP_SPINCOUNT") and not os.environ.get("OMP_WAIT_POLICY"):
        added["GOMP_SPINCOUNT"] = SPIN_COUNT
    os.environ.update(added)
    try:
        yield n
    finally:
        for key in added:
            os.environ.pop(key, None)


def apply_default(_C, n):
    """If libgomp was loaded earlier by another library it did not read our
    OMP_NUM_THREADS; set the default for the importing thread instead."""
    if n is not None and _C.get_num_threads() != n:
        _C.set_num_threads(n)


class ModelLock:
    """Many readers (predict, evaluate) or one writer (a train step).

    Predictions may run together from several threads; a train step waits for
    them and blocks new ones until its weight update is done, so no forward
    pass ever reads half-updated weights. Writers take precedence over new
    readers (a stream of predicts cannot starve fit). Both sides are
    re-entrant in their own thread (a callback inside a step may predict).
    """

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = None
        self._writer_depth = 0
        self._writers_waiting = 0
        self._local = threading.local()

    def read(self):
        """``with lock.read():`` (a plain guard object: predict_on_batch at
        batch 1 spent a sixth of its time in a generator-based one)."""
        return _ReadGuard(self)

    def _acquire_read(self):
        """True when this call took the lock (False: re-entered)."""
        local = self._local
        held = getattr(local, "reads", 0)
        if held or self._writer == threading.get_ident():
            local.reads = held + 1        # already inside: re-enter
            return False
        with self._cond:
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        local.reads = 1
        return True

    def _release_read(self, took):
        if not took:
            self._local.reads -= 1
            return
        self._local.reads = 0
        with self._cond:
            self._readers -= 1
            # Only writers wait for readers (notify_all was a third of a
            # batch-1 predict's locking).
            if self._readers == 0 and self._writers_waiting:
                self._cond.notify_all()

    @contextlib.contextmanager
    def write(self):
        me = threading.get_ident()
        if getattr(self._local, "reads", 0) and self._writer != me:
            raise RuntimeError("a model cannot be trained from inside its own predict "
                               "(the thread holds the model's read lock)")
        with self._cond:
            if self._writer != me:
                self._writers_waiting += 1
                try:
                    while self._writer is not None or self._readers:
                        self._cond.wait()
                finally:
                    self._writers_waiting -= 1
                self._writer = me
            self._writer_depth += 1
        try:
            yield
        finally:
            with self._cond:
                self._writer_depth -= 1
                if self._writer_depth == 0:
                    self._writer = None
                    self._cond.notify_all()


_lock_guard = threading.Lock()


class _ReadGuard:
    __slots__ = ("_lock", "_took")

    def __init__(self, lock):
        self._lock = lock

    def __enter__(self):
        self._took = self._lock._acquire_read()

    def __exit__(self, *exc):
        self._lock._release_read(self._took)
        return False


def model_lock(model):
    """The model's ModelLock, created on first use (models built by
    deserialization or subclasses skipping __init__ get one too)."""
    lock = model.__dict__.get("_model_lock")
    if lock is None:
        with _lock_guard:
            lock = model.__dict__.setdefault("_model_lock", ModelLock())
    return lock
