#!/usr/bin/env python3
"""tract vs onnxruntime latency of one exported model, side by side.

    python latency_side_by_side.py model.onnx [--rounds 5] [--runs 200]
        [--device-bench target/release/device-bench] [--data builtin:digits]

Alternates, round by round, a `device-bench run` (tract, 1 thread, batch 1
p50) and an onnxruntime session (1 intra-op and 1 inter-op thread, batch 1,
sequential execution) on the same input size, so load on a shared machine
hits both alike. Prints one JSON object: per-round p50s, the medians, and
tract / onnxruntime.
"""
import argparse
import json
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort


def ort_p50(model: str, shape, runs: int) -> float:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    name = session.get_inputs()[0].name
    for _ in range(20):
        session.run(None, {name: x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def tract_p50(device_bench: str, model: str, data: str, runs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [device_bench, "run", "--model", model, "--data", data, "--out", f"{tmp}/r.json",
             "--batch", "1", "--repeats", str(runs), "--json"],
            check=True, capture_output=True, text=True,
        ).stdout
    report = json.loads(out)
    return next(l["stats"]["p50_ms"] for l in report["latency"] if l["batch"] == 1)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--device-bench", default="target/release/device-bench")
    p.add_argument("--data", default="builtin:digits")
    a = p.parse_args()
    meta = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"]).get_modelmeta()
    shape = json.loads(meta.custom_metadata_map["edgenas.input_shape"])
    tract, onnxrt = [], []
    for _ in range(a.rounds):
        tract.append(tract_p50(a.device_bench, a.model, a.data, a.runs))
        onnxrt.append(ort_p50(a.model, shape, a.runs))
    t, o = statistics.median(tract), statistics.median(onnxrt)
    print(json.dumps({
        "model": a.model, "onnxruntime": ort.__version__, "batch": 1, "threads": 1,
        "tract_p50_ms_rounds": tract, "onnxruntime_p50_ms_rounds": onnxrt,
        "tract_p50_ms": t, "onnxruntime_p50_ms": o, "tract_over_onnxruntime": t / o,
    }))


if __name__ == "__main__":
    main()
