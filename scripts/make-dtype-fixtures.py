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
- test/fixtures/models/string-output.onnx: a string input returned as a string
  output (Identity), as a classifier's text labels come out.
- test/fixtures/models/breast-cancer-f16-weights.onnx (+ .config.json) and
  test/fixtures/goldens/breast-cancer-f16-weights.json: float32 in and out, the
  weights stored as float16 and cast to float32 inside (a mixed-precision
  export); its logits computed here with numpy from the float16 weights.
- test/fixtures/models/half-inside.onnx: float32 in and out, a Cast to float16
  and back inside (the answer is the input rounded to float16).
- test/fixtures/goldens/float16.json: doubles and the float16 bit patterns
  numpy rounds them to (ties, subnormals, the overflow edge, random values).
- test/fixtures/models/wine-categorical.onnx (+ .config.json) and
  test/fixtures/goldens/wine-categorical.json: a string (categorical) input.
  scikit-learn's bundled wine data, five numeric features plus the colour
  intensity as a band ("pale", "medium", "deep": terciles of the training
  rows), one-hot encoded in the graph (ai.onnx.ml OneHotEncoder; an unknown
  band encodes as zeros), into a logistic regression trained by scikit-learn,
  whose decision_function gives the golden logits.

- test/fixtures/models/iris-zipmap.onnx and test/fixtures/goldens/iris-zipmap.json:
  a scikit-learn classifier as skl2onnx exports it by default: an ai.onnx.ml
  LinearClassifier (a logistic regression trained on scikit-learn's bundled
  iris data) whose class probabilities go through ZipMap, so the second output
  is a sequence of maps, not a tensor; the label output is an int64 tensor.
  Goldens: scikit-learn's predict and predict_proba on 30 test rows.
  test/fixtures/models/iris-zipmap-strings.onnx: the same classifier with the
  species names as class labels (classlabels_strings), so the label output is
  a string tensor and the ZipMap's keys are strings.

Deterministic: the same numpy and onnx give byte-identical files.
"""

import json
import os

import numpy as np
import onnx
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
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


def save_model(model, path, full_check=True):
    # full_check also runs strict shape inference, which has no rule for ai.onnx.ml's OneHotEncoder.
    onnx.checker.check_model(model, full_check=full_check)
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


def save_variant(graph, name, description):
    """A variant of the breast-cancer model: <name>.onnx and its config (breast-cancer's, renamed)."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="omniserve-fixtures")
    model.ir_version = 8
    save_model(model, os.path.join(MODELS, f"{name}.onnx"))
    with open(os.path.join(MODELS, "breast-cancer.config.json")) as f:
        config = json.load(f)
    config["name"] = name
    config["description"] = description
    config.pop("test_accuracy", None)
    write_json(os.path.join(MODELS, f"{name}.config.json"), config)


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
    save_variant(graph, "breast-cancer-fp16",
                 "The breast-cancer classifier with float16 input and output (Cast nodes around "
                 "the float32 graph): a half-precision model. Outputs a raw logit as float16.")

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


def mixed_precision():
    src = onnx.load(os.path.join(MODELS, "breast-cancer.onnx"))
    g = src.graph
    # Each weight stored as float16, cast back to float32 where the graph reads it.
    inits, casts = [], []
    for t in g.initializer:
        w16 = numpy_helper.to_array(t).astype(np.float16)
        inits.append(numpy_helper.from_array(w16, t.name + "_f16"))
        casts.append(helper.make_node("Cast", [t.name + "_f16"], [t.name], to=TensorProto.FLOAT, name="cast_" + t.name))
    graph = helper.make_graph(casts + list(g.node), "breast_cancer_f16_weights", list(g.input), list(g.output), initializer=inits)
    save_variant(graph, "breast-cancer-f16-weights",
                 "The breast-cancer classifier with its weights stored as float16 and cast to float32 "
                 "inside: float32 in and out, float16 in the graph (a mixed-precision export).")
    w = {t.name: numpy_helper.to_array(t).astype(np.float16).astype(np.float32) for t in g.initializer}
    with open(os.path.join(GOLDENS, "breast-cancer.json")) as f:
        golden = json.load(f)
    x = np.asarray(golden["inputs"]["features"]["data"], dtype=np.float32).reshape(golden["inputs"]["features"]["dims"])
    logits = forward(g, w, x)
    write_json(os.path.join(GOLDENS, "breast-cancer-f16-weights.json"), {
        "model": "breast-cancer-f16-weights",
        "note": "inputs: the breast-cancer golden rows; outputs: numpy's float32 graph with the weights rounded to float16",
        "inputs": {"features": {"dtype": "float32", "dims": list(x.shape), "data": [float(v) for v in x.reshape(-1)]}},
        "outputs": {"logit": {"dtype": "float32", "dims": list(logits.shape), "data": [float(v) for v in logits.reshape(-1)]}},
    })
    # A Cast to float16 and back: float32 in and out.
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["x16"], to=TensorProto.FLOAT16, name="to_f16"),
         helper.make_node("Cast", ["x16"], ["y"], to=TensorProto.FLOAT, name="to_f32")],
        "half_inside",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="omniserve-fixtures")
    model.ir_version = 8
    save_model(model, os.path.join(MODELS, "half-inside.onnx"))


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
    # A string input returned as a string output (a label as text).
    graph = helper.make_graph([helper.make_node("Identity", ["s"], ["s_out"])], "string_output",
                              [helper.make_tensor_value_info("s", TensorProto.STRING, ["batch", 1])],
                              [helper.make_tensor_value_info("s_out", TensorProto.STRING, ["batch", 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="omniserve-fixtures")
    model.ir_version = 8
    save_model(model, os.path.join(MODELS, "string-output.onnx"))


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


def wine_categorical():
    data = load_wine()
    names = ["alcohol", "malic_acid", "flavanoids", "proline", "hue"]
    cols = [list(data.feature_names).index(n) for n in names]
    color = list(data.feature_names).index("color_intensity")
    X = data.data.astype(np.float32)
    y = data.target
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    lo, hi = np.quantile(Xtr[:, color], [1 / 3, 2 / 3])
    bands = ["pale", "medium", "deep"]
    band = lambda v: bands[0] if v < lo else bands[1] if v < hi else bands[2]  # noqa: E731

    def design(Xs, bs):
        num = (Xs[:, cols] - mean) / std
        onehot = np.array([[1.0 if b == c else 0.0 for c in bands] for b in bs], dtype=np.float32)
        return np.concatenate([num, onehot], axis=1).astype(np.float32)

    mean = Xtr[:, cols].mean(axis=0).astype(np.float32)
    std = Xtr[:, cols].std(axis=0).astype(np.float32)
    btr = [band(v) for v in Xtr[:, color]]
    clf = LogisticRegression(max_iter=5000, C=1.0)
    clf.fit(design(Xtr, btr), ytr)
    coef = clf.coef_.astype(np.float32)          # [3, 8]
    intercept = clf.intercept_.astype(np.float32)

    inits = [
        numpy_helper.from_array(mean, "mean"), numpy_helper.from_array(std, "std"),
        numpy_helper.from_array(np.array([-1, 3], dtype=np.int64), "onehot_shape"),
        numpy_helper.from_array(coef.T.copy(), "coef"), numpy_helper.from_array(intercept, "intercept"),
    ]
    nodes = [
        helper.make_node("Sub", ["numeric", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["scaled"]),
        helper.make_node("OneHotEncoder", ["color_band"], ["onehot3d"], domain="ai.onnx.ml", cats_strings=bands, zeros=1),
        helper.make_node("Reshape", ["onehot3d", "onehot_shape"], ["onehot"]),
        helper.make_node("Concat", ["scaled", "onehot"], ["design"], axis=1),
        helper.make_node("Gemm", ["design", "coef", "intercept"], ["logits"]),
    ]
    graph = helper.make_graph(nodes, "wine_categorical", [
        helper.make_tensor_value_info("numeric", TensorProto.FLOAT, ["batch", len(names)]),
        helper.make_tensor_value_info("color_band", TensorProto.STRING, ["batch", 1]),
    ], [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", 1)],
                              producer_name="omniserve-fixtures")
    model.ir_version = 8
    save_model(model, os.path.join(MODELS, "wine-categorical.onnx"), full_check=False)
    write_json(os.path.join(MODELS, "wine-categorical.config.json"), {
        "name": "wine-categorical",
        "version": "1",
        "description": ("Wine cultivar (3 classes) from five measurements and the colour intensity as a band: a string "
                        "input one-hot encoded in the graph, into a scikit-learn logistic regression. Outputs logits."),
        "inputs": {"numeric": {"features": names}, "color_band": {"features": ["color_band"]}},
        "outputs": {"logits": {"postprocess": "softmax", "labels": ["class_0", "class_1", "class_2"]}},
        "dataset": "sklearn.datasets.load_wine",
        "test_accuracy": round(float(clf.score(design(Xte, [band(v) for v in Xte[:, color]]), yte)), 4),
    })
    bte = [band(v) for v in Xte[:, color]]
    # One row whose band the model never saw: it encodes as zeros.
    bte[4] = "purple"
    logits = clf.decision_function(design(Xte, bte))
    records = [{**{n: float(Xte[i, c]) for n, c in zip(names, cols)}, "color_band": bte[i]} for i in range(len(Xte))]
    write_json(os.path.join(GOLDENS, "wine-categorical.json"), {
        "model": "wine-categorical",
        "note": "logits from scikit-learn's decision_function (float64); row 4's band is one the model never saw",
        "records": records,
        "labels": [int(v) for v in yte],
        "outputs": {"logits": {"dims": [len(Xte), 3], "data": [float(v) for v in logits.reshape(-1)]}},
    })


def iris_zipmap():
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    clf = LogisticRegression(max_iter=5000).fit(Xtr, ytr)
    classes = [int(c) for c in clf.classes_]

    def zipmap_classifier(file, graph_name, labels):
        """LinearClassifier -> label (Identity) and probabilities -> ZipMap, as skl2onnx exports it."""
        text = isinstance(labels[0], str)
        key = {"classlabels_strings": labels} if text else {"classlabels_int64s": labels}
        nodes = [
            helper.make_node("LinearClassifier", ["float_input"], ["label", "probability_tensor"], domain="ai.onnx.ml",
                             coefficients=clf.coef_.astype(np.float32).reshape(-1).tolist(),
                             intercepts=clf.intercept_.astype(np.float32).tolist(),
                             multi_class=1, post_transform="SOFTMAX",
                             **({"classlabels_strings": labels} if text else {"classlabels_ints": labels})),
            helper.make_node("Identity", ["label"], ["output_label"]),
            helper.make_node("ZipMap", ["probability_tensor"], ["output_probability"], domain="ai.onnx.ml", **key),
        ]
        # seq(map(key, tensor(float))), built by hand: onnx 1.12's helper has no map type.
        zipped = onnx.ValueInfoProto()
        zipped.name = "output_probability"
        mt = zipped.type.sequence_type.elem_type.map_type
        mt.key_type = TensorProto.STRING if text else TensorProto.INT64
        mt.value_type.tensor_type.elem_type = TensorProto.FLOAT
        label_type = TensorProto.STRING if text else TensorProto.INT64
        graph = helper.make_graph(nodes, graph_name,
                                  [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, 4])],
                                  [helper.make_tensor_value_info("output_label", label_type, [None]), zipped])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", 1)],
                                  producer_name="omniserve-fixtures")
        model.ir_version = 8
        save_model(model, os.path.join(MODELS, file), full_check=False)

    zipmap_classifier("iris-zipmap.onnx", "iris_zipmap", classes)
    # The same with the species names as labels: a string label tensor, string map keys.
    zipmap_classifier("iris-zipmap-strings.onnx", "iris_zipmap_strings", ["setosa", "versicolor", "virginica"])
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    write_json(os.path.join(GOLDENS, "iris-zipmap.json"), {
        "model": "iris-zipmap",
        "note": "scikit-learn's predict and predict_proba (float64) of the logistic regression inside the graph",
        "features": names,
        "rows": [[float(v) for v in r] for r in Xte],
        "labels": [int(v) for v in yte],
        "predicted": [int(v) for v in clf.predict(Xte)],
        "probabilities": [[float(v) for v in r] for r in clf.predict_proba(Xte)],
    })


if __name__ == "__main__":
    iris_zipmap()
    wine_categorical()
    fp16_breast_cancer()
    mixed_precision()
    dtypes_model()
    half_golden()
