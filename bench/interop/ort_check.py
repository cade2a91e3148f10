#!/usr/bin/env python3
"""Check an exported edgenas model in onnxruntime against burn's own outputs.

    python ort_check.py model.onnx [model.onnx.check.json]

The check file is written by `edgenas export --write-check`: real,
normalized test images and burn's logits for them. Prints one JSON line
(max abs / relative error, onnxruntime version, opset) and exits 1 when the
relative error exceeds 1e-4. Not part of the default test run (it needs
onnxruntime from PyPI: `pip install -r requirements.txt`).
"""
import json
import sys

import numpy as np
import onnxruntime as ort

TOLERANCE = 1e-4


def main() -> int:
    model = sys.argv[1]
    check_path = sys.argv[2] if len(sys.argv) > 2 else model + ".check.json"
    with open(check_path) as f:
        check = json.load(f)
    x = np.asarray(check["inputs"], dtype=np.float32).reshape(check["input_shape"])
    expected = np.asarray(check["burn_logits"], dtype=np.float32).reshape(x.shape[0], -1)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    got = session.run(None, {check["input_name"]: x})[0]
    abs_err = float(np.max(np.abs(got - expected)))
    rel_err = abs_err / max(float(np.max(np.abs(expected))), 1e-12)
    meta = session.get_modelmeta().custom_metadata_map
    print(json.dumps({
        "model": model,
        "onnxruntime": ort.__version__,
        "images": int(x.shape[0]),
        "max_abs_error": abs_err,
        "max_rel_error": rel_err,
        "argmax_agreement": float(np.mean(got.argmax(1) == expected.argmax(1))),
        "edgenas_dataset": meta.get("edgenas.dataset"),
    }))
    return 0 if rel_err <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
