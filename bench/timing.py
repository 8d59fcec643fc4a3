"""Timing loops shared by every engine: engines alternate repetition by
repetition, so a change of machine speed during the run hits all of them."""
import statistics
import time

HEAVY_SECONDS = 1.0   # a call slower than this gets fewer repetitions
HEAVY_REPEATS = 3
# Pause after each engine's block when engines alternate: an engine's idle
# worker threads keep spinning for a while after its last call (ONNX
# Runtime's pool, libgomp's 300,000 pause loops in PyTorch), and the next
# engine's threads then share a core with them. Measured: pycnn's ResNet50
# batch-1 call at 2 threads right after an ONNX Runtime call took 89-101 ms,
# the call after it 63-74 ms; with a 50 ms pause both took 62 ms.
SETTLE_SECONDS = 0.05


def seconds_per_call(fn, min_seconds):
    """Mean seconds per call over at least one call and min_seconds."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def warm_up(fn, calls=2):
    """First calls allocate, pack weights, fault pages in; return the last
    call's seconds as a cost estimate."""
    t = 0.0
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        t = time.perf_counter() - start
        if t > HEAVY_SECONDS:  # one warm-up is enough, and saves seconds
            break
    return t


def alternate(callables, repeats, min_seconds, heavy_repeats=HEAVY_REPEATS):
    """{key: [seconds per call, one per repetition]} for a dict of zero-argument
    callables, timed in turn. Slow callables cap every one at heavy_repeats."""
    # A callable run in another process (engine_tf_remote.RemoteCall) times itself.
    cost = max(fn.warm() if hasattr(fn, "timed") else warm_up(fn) for fn in callables.values())
    if cost > HEAVY_SECONDS:
        repeats = min(repeats, heavy_repeats)
    samples = {key: [] for key in callables}
    settle = SETTLE_SECONDS if len(callables) > 1 else 0.0
    for _ in range(repeats):
        for key, fn in callables.items():
            time.sleep(settle)
            samples[key].append(fn.timed(min_seconds) if hasattr(fn, "timed")
                                else seconds_per_call(fn, min_seconds))
    return samples


def summarize(samples):
    """Median and spread ((max - min) / median, in %) of one sample list."""
    med = statistics.median(samples)
    return {"seconds": med, "spread_pct": 100.0 * (max(samples) - min(samples)) / med,
            "samples": samples}
