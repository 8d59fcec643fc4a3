"""TensorFlow-Keras timed on request, so that pycnn's child process can time
it side by side with pycnn (alternating repetitions) although TF lives in
another interpreter (its venv). Started by bench/engine_tf_remote.py with the
thread count in the environment (TF fixes its thread pools at start-up);
reads one JSON request per line on stdin and answers one JSON line on the
protocol pipe. Everything else TF or Keras prints goes to stderr."""
import json
import os
import sys
import traceback


def main():
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # C-level and Python prints to stderr: the pipe carries answers only
    sys.stdout = sys.stderr
    from bench import engine_tf, timing
    from bench.workloads import WORKLOADS
    threads = int(os.environ["PYCNN_BENCH_TF_THREADS"])
    engine_tf.set_threads(threads)
    calls = {}
    for line in sys.stdin:
        req = json.loads(line)
        try:
            cmd = req["cmd"]
            if cmd == "info":
                out = engine_tf.info()
            elif cmd == "make":
                calls = engine_tf.make(WORKLOADS[req["workload"]], threads)
                out = sorted(calls)
            elif cmd == "warm":
                out = timing.warm_up(calls[req["variant"]])
            elif cmd == "time":
                out = timing.seconds_per_call(calls[req["variant"]], req["min_seconds"])
            else:
                raise ValueError(f"unknown request {cmd!r}")
            answer = {"ok": out}
        except Exception:
            answer = {"error": traceback.format_exc()}
        proto.write(json.dumps(answer) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
