#!/usr/bin/env python3
"""tract vs onnxruntime latency of one exported model, side by side.

    python latency_side_by_side.py model.onnx [--rounds 5] [--runs 200]
        [--batch 1] [--profile]
        [--device-bench target/release/device-bench] [--data builtin:digits]

Each round times, one after the other on the same input size: tract with
edgenas' kernels (a `device-bench run`, the deployment's runtime), tract
with its own kernels only (the same run with EDGENAS_TRACT_KERNELS=tract)
and an onnxruntime session (1 intra-op and 1 inter-op thread, sequential
execution); so load on a shared machine hits all three alike. tract runs
on one thread. Prints one JSON object: per-round p50s, the medians and the
ratios to onnxruntime. With --profile it adds, for each runtime, the time
per op type (mean ms per inference: device-bench's --profile for tract,
onnxruntime's own profiler).
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort


def ort_session(model: str, profile: bool = False) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.enable_profiling = profile
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def ort_input(session, shape, batch):
    x = np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)
    return {session.get_inputs()[0].name: x}


def ort_p50(model: str, shape, batch: int, runs: int) -> float:
    session = ort_session(model)
    feed = ort_input(session, shape, batch)
    for _ in range(20):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def ort_by_op(model: str, shape, batch: int, runs: int) -> dict:
    """Mean ms per inference per op type, from onnxruntime's profiler."""
    session = ort_session(model, profile=True)
    feed = ort_input(session, shape, batch)
    for _ in range(runs):
        session.run(None, feed)
    path = session.end_profiling()
    with open(path) as f:
        events = json.load(f)
    os.remove(path)
    by_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"] / 1e3 / runs
    return dict(by_op.most_common())


def device_bench(device_bench: str, model: str, data: str, batch: int, runs: int,
                 own_kernels: bool, profile: bool = False) -> dict:
    env = dict(os.environ)
    if own_kernels:
        env["EDGENAS_TRACT_KERNELS"] = "tract"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [device_bench, "run", "--model", model, "--data", data, "--out", f"{tmp}/r.json",
               "--batch", str(batch), "--repeats", str(runs), "--json"]
        if profile:
            cmd.append("--profile")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    report = json.loads(out)
    return next(l for l in report["latency"] if l["batch"] == batch)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--device-bench", default="target/release/device-bench")
    p.add_argument("--data", default="builtin:digits")
    a = p.parse_args()
    meta = ort_session(a.model).get_modelmeta()
    shape = json.loads(meta.custom_metadata_map["edgenas.input_shape"])
    ours, own, onnxrt = [], [], []
    for _ in range(a.rounds):
        ours.append(device_bench(a.device_bench, a.model, a.data, a.batch, a.runs, False)
                    ["stats"]["p50_ms"])
        own.append(device_bench(a.device_bench, a.model, a.data, a.batch, a.runs, True)
                   ["stats"]["p50_ms"])
        onnxrt.append(ort_p50(a.model, shape, a.batch, a.runs))
    t, t0, o = statistics.median(ours), statistics.median(own), statistics.median(onnxrt)
    result = {
        "model": a.model, "onnxruntime": ort.__version__, "batch": a.batch, "threads": 1,
        "tract_p50_ms_rounds": ours, "tract_own_kernels_p50_ms_rounds": own,
        "onnxruntime_p50_ms_rounds": onnxrt,
        "tract_p50_ms": t, "tract_own_kernels_p50_ms": t0, "onnxruntime_p50_ms": o,
        "tract_over_onnxruntime": t / o, "tract_own_kernels_over_onnxruntime": t0 / o,
        "round_ratios": [x / y for x, y in zip(ours, onnxrt)],
    }
    if a.profile:
        by_op = lambda own_kernels: {
            e["op"]: e["mean_ms"]
            for e in device_bench(a.device_bench, a.model, a.data, a.batch, a.runs,
                                  own_kernels, profile=True)["profile"]["by_op"]}
        result["profile_ms_per_op_type"] = {
            "tract": by_op(False),
            "tract_own_kernels": by_op(True),
            "onnxruntime": ort_by_op(a.model, shape, a.batch, a.runs),
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
