#!/usr/bin/env python3
"""Generate omniserve's fixtures for the less common tensor types.

Run from the repository root, after scripts/make-fixtures.py (it reads the
breast-cancer model and goldens that script writes):

    /usr/bin/python3 scripts/make-dtype-fixtures.py

Needs numpy and onnx (Debian: python3-numpy, python3-onnx). Writes:

- test/fixtures/models/breast-cancer-fp16.onnx (+ .config.json): the
  breast-cancer model with float16 input and output (Cast nodes around the
  float32 graph), the way half-precision models are served on GPUs.
- test/fixtures/goldens/breast-cancer-fp16.json: its logits for the
  breast-cancer golden rows, computed here with numpy from the model's weights
  (an independent reference for onnxruntime): the rows rounded to float16, the
  float32 graph, the logit rounded to float16.
- test/fixtures/models/dtypes.onnx: one [batch, 2] input per dtype int8,
  int16, uint16, uint32, uint64, float16 and bool, each returned unchanged
  (Identity), plus float16 cast inside the graph to float32, so a test sees
  what onnxruntime read from the bits omniserve sent. (A uint64 to float64 Cast
  does not load on onnxruntime-web's WebGPU build: no kernel is assigned.)
- test/fixtures/goldens/float16.json: doubles and the float16 bit patterns
  numpy rounds them to (ties, subnormals, the overflow edge, random values).

Deterministic: the same numpy and onnx give byte-identical files.
"""

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MODELS = os.path.join(ROOT, "test", "fixtures", "models")
GOLDENS = os.path.join(ROOT, "test", "fixtures", "goldens")
OPSET = 17


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
        f.write("\n")
    print("wrote", os.path.relpath(path, ROOT))


def save_model(model, path):
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")


def forward(g, w, x):
    """The breast-cancer graph (Sub, Div, Gemm, Relu, Gemm) in numpy float32."""
    h = x
    for n in g.node:
        a = lambda i: w[n.input[i]] if n.input[i] in w else h  # noqa: E731
        if n.op_type == "Sub":
            h = (a(0) - a(1)).astype(np.float32)
        elif n.op_type == "Div":
            h = (a(0) / a(1)).astype(np.float32)
        elif n.op_type == "Relu":
            h = np.maximum(h, np.float32(0))
        elif n.op_type == "Gemm":
            attrs = {at.name: helper.get_attribute_value(at) for at in n.attribute}
            A, B = a(0), w[n.input[1]]
            if attrs.get("transA"):
                A = A.T
            if attrs.get("transB"):
                B = B.T
            h = (np.float32(attrs.get("alpha", 1.0)) * (A @ B) + np.float32(attrs.get("beta", 1.0)) * w[n.input[2]]).astype(np.float32)
        else:
            raise SystemExit(f"unexpected op {n.op_type}")
    return h


def fp16_breast_cancer():
    src = onnx.load(os.path.join(MODELS, "breast-cancer.onnx"))
    g = src.graph
    (inp,) = g.input
    (out,) = g.output
    # Rename the float32 graph's input and output; the new ones keep the old names.
    for n in g.node:
        n.input[:] = ["features_f32" if i == inp.name else i for i in n.input]
        n.output[:] = ["logit_f32" if o == out.name else o for o in n.output]
    nodes = [helper.make_node("Cast", [inp.name], ["features_f32"], to=TensorProto.FLOAT, name="to_float32")]
    nodes += list(g.node)
    nodes.append(helper.make_node("Cast", ["logit_f32"], [out.name], to=TensorProto.FLOAT16, name="to_float16"))
    new_in = helper.make_tensor_value_info(inp.name, TensorProto.FLOAT16, ["batch", 30])
    new_out = helper.make_tensor_value_info(out.name, TensorProto.FLOAT16, ["batch", 1])
    graph = helper.make_graph(nodes, "breast_cancer_fp16", [new_in], [new_out], initializer=list(g.initializer))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="omniserve-fixtures")
    model.ir_version = 8
    save_model(model, os.path.join(MODELS, "breast-cancer-fp16.onnx"))

    with open(os.path.join(MODELS, "breast-cancer.config.json")) as f:
        config = json.load(f)
    config["name"] = "breast-cancer-fp16"
    config["description"] = ("The breast-cancer classifier with float16 input and output (Cast nodes around "
                             "the float32 graph): a half-precision model. Outputs a raw logit as float16.")
    config.pop("test_accuracy", None)
    write_json(os.path.join(MODELS, "breast-cancer-fp16.config.json"), config)

    # The reference: numpy on the graph's weights (Sub, Div, Gemm, Relu, Gemm).
    w = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    with open(os.path.join(GOLDENS, "breast-cancer.json")) as f:
        golden = json.load(f)
    x32 = np.asarray(golden["inputs"]["features"]["data"], dtype=np.float32).reshape(golden["inputs"]["features"]["dims"])
    x16 = x32.astype(np.float16)
    # The float32 graph's own goldens (torch's) check this forward pass first.
    torch_logits = np.asarray(golden["outputs"]["logit"]["data"], dtype=np.float32).reshape(-1, 1)
    if not np.allclose(forward(g, w, x32), torch_logits, rtol=1e-4, atol=1e-4):
        raise SystemExit("numpy's forward pass does not match the breast-cancer goldens")
    logit16 = forward(g, w, x16.astype(np.float32)).astype(np.float16)
    write_json(os.path.join(GOLDENS, "breast-cancer-fp16.json"), {
        "model": "breast-cancer-fp16",
        "note": "inputs: the breast-cancer golden rows as float16 bits; outputs: numpy's float32 graph on them, rounded to float16 (compare within one float16 step: onnxruntime's float32 sums may differ in the last bits)",
        "inputs": {"features": {"dtype": "float16", "dims": list(x16.shape), "bits": x16.view(np.uint16).reshape(-1).tolist()}},
        "outputs": {"logit": {"dtype": "float16", "dims": list(logit16.shape), "bits": logit16.view(np.uint16).reshape(-1).tolist(),
                              "values": [float(v) for v in logit16.reshape(-1)]}},
    })


def dtypes_model():
    kinds = [
        ("i8", TensorProto.INT8), ("i16", TensorProto.INT16), ("u16", TensorProto.UINT16), ("u32", TensorProto.UINT32),
        ("u64", TensorProto.UINT64), ("f16", TensorProto.FLOAT16), ("b", TensorProto.BOOL),
    ]
    inputs, outputs, nodes = [], [], []
    for name, t in kinds:
        inputs.append(helper.make_tensor_value_info(name, t, ["batch", 2]))
        outputs.append(helper.make_tensor_value_info(f"{name}_out", t, ["batch", 2]))
        nodes.append(helper.make_node("Identity", [name], [f"{name}_out"], name=f"id_{name}"))
    nodes.append(helper.make_node("Cast", ["f16"], ["f16_as_f32"], to=TensorProto.FLOAT, name="f16_to_f32"))
    outputs.append(helper.make_tensor_value_info("f16_as_f32", TensorProto.FLOAT, ["batch", 2]))
    graph = helper.make_graph(nodes, "dtypes", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="omniserve-fixtures")
    model.ir_version = 8
    save_model(model, os.path.join(MODELS, "dtypes.onnx"))


def half_golden():
    e = [2.0 ** k for k in range(-26, 17)]
    values = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 65504.0, 65519.99, 65520.0, -65520.0, 1e6, 2.0 ** -24, 2.0 ** -25,
              3 * 2.0 ** -26, 2.0 ** -25 * 1.0000001, 2.0 ** -14, 2.0 ** -14 * (1 - 2.0 ** -11), 6.1e-5, 5.96e-8, 1e-9,
              2049.0, 2051.0, 2050.0, 1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 1 + 2.0 ** -11 + 2.0 ** -40, 0.333251953125,
              float("inf"), float("-inf")]
    # Ties between neighbours at every exponent, and each side of them.
    for x in e:
        for m in (1.0, 1.5, 1.0 + 2.0 ** -10):
            tie = x * (m + 2.0 ** -11)
            values += [tie, np.nextafter(tie, 0.0), np.nextafter(tie, np.inf)]
    rng = np.random.default_rng(0)
    values += (rng.standard_normal(200) * 10.0 ** rng.integers(-8, 5, 200)).tolist()
    values = [float(v) for v in values]
    with np.errstate(over="ignore"):  # 1e6 and the like overflow to infinity, as they should
        bits = [int(b) for b in np.asarray(values, dtype=np.float64).astype(np.float16).view(np.uint16)]
    # JSON has no infinities: they are written as strings.
    enc = lambda v: v if np.isfinite(v) else ("Infinity" if v > 0 else "-Infinity")  # noqa: E731
    write_json(os.path.join(GOLDENS, "float16.json"), {
        "note": "doubles and numpy's float16 bits for them (astype(np.float16): round to nearest, ties to even); infinities as strings",
        "numpy": np.__version__,
        "pairs": [[enc(v), b] for v, b in zip(values, bits)],
    })


if __name__ == "__main__":
    fp16_breast_cancer()
    dtypes_model()
    half_golden()
