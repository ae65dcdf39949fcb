#!/usr/bin/env python3
"""Generate the ONNX test fixtures for omniserve.

Trains three small models on scikit-learn's *bundled* datasets (no downloads),
exports them to ONNX with torch.onnx.export, and writes golden outputs computed
by the torch model itself (an independent reference for the server's
onnxruntime results).

Run from the repository root:

    /usr/bin/python3 scripts/make-fixtures.py

Needs torch, scikit-learn, numpy and onnx (Debian: python3-torch,
python3-sklearn, python3-onnx). onnxruntime is used for an extra check when it
is importable, and skipped otherwise.

Everything is deterministic: fixed seeds, single-threaded float32 CPU training,
so rerunning produces byte-identical JSON (and, with the same torch version,
byte-identical .onnx files).
"""

import json
import os
import random
import re
import sys

import numpy as np
import torch
import torch.nn as nn
import onnx
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import train_test_split

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(ROOT, "test", "fixtures")
MODELS_DIR = os.path.join(FIXTURES, "models")
GOLDENS_DIR = os.path.join(FIXTURES, "goldens")
DATA_DIR = os.path.join(FIXTURES, "data")

OPSET = 17
SEED = 0
SPLIT_SEED = 0
TEST_SIZE = 0.2
N_GOLDEN = 32
MAX_ONNX_BYTES = 200 * 1024


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def seed_everything(seed=SEED):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def snake(name):
    """sklearn feature name -> snake_case (lowercase, runs of non-alnum -> '_')."""
    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")


def f32(x):
    """A Python float holding exactly the float32 value of x."""
    return float(np.float32(x))


def f32_list(arr):
    return [f32(v) for v in np.asarray(arr, dtype=np.float32).reshape(-1)]


def _is_scalar(v):
    return isinstance(v, (int, float, str, bool)) or v is None


def dumps(obj, indent=0):
    """JSON with 2-space indent, but lists of scalars kept on one line."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            inner + json.dumps(str(k)) + ": " + dumps(v, indent + 1)
            for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(_is_scalar(v) for v in obj):
            return "[" + ", ".join(json.dumps(v, allow_nan=False) for v in obj) + "]"
        items = [inner + dumps(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, allow_nan=False)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(dumps(obj) + "\n")


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(", ", ": "), allow_nan=False) + "\n")


def tensor_entry(arr, dtype):
    arr = np.asarray(arr)
    if dtype == "float32":
        data = f32_list(arr)
    elif dtype == "int64":
        data = [int(v) for v in arr.astype(np.int64).reshape(-1)]
    else:
        raise ValueError(dtype)
    return {"dtype": dtype, "dims": list(arr.shape), "data": data}


def export_onnx(model, args, path, input_names, output_names):
    """torch.onnx.export with a dynamic 'batch' axis on every input/output."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.eval()
    dynamic_axes = {n: {0: "batch"} for n in list(input_names) + list(output_names)}
    with torch.no_grad():
        torch.onnx.export(
            model,
            args,
            path,
            export_params=True,
            opset_version=OPSET,
            do_constant_folding=True,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            keep_initializers_as_inputs=False,
        )
    verify_onnx(path, input_names, output_names)


def verify_onnx(path, input_names, output_names):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ios = [("input", i) for i in m.graph.input] + [("output", o) for o in m.graph.output]
    got_in = [i.name for i in m.graph.input]
    got_out = [o.name for o in m.graph.output]
    assert got_in == list(input_names), (path, got_in, input_names)
    assert got_out == list(output_names), (path, got_out, output_names)
    for kind, vi in ios:
        dims = vi.type.tensor_type.shape.dim
        assert dims and dims[0].dim_param == "batch", (path, kind, vi.name, dims)
        for d in dims[1:]:
            assert d.HasField("dim_value") and d.dim_value > 0, (path, kind, vi.name, dims)
    opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
    assert opset and 13 <= opset[0] <= 17, (path, opset)
    size = os.path.getsize(path)
    assert size < MAX_ONNX_BYTES, (path, size)


def describe_onnx(path):
    m = onnx.load(path)
    elem = {
        onnx.TensorProto.FLOAT: "float32",
        onnx.TensorProto.INT64: "int64",
    }

    def fmt(vi):
        t = vi.type.tensor_type
        dims = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
        return "%s %s %s" % (vi.name, elem.get(t.elem_type, t.elem_type), dims)

    opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0]
    lines = ["  %s (%d bytes, opset %d)" % (os.path.relpath(path, ROOT), os.path.getsize(path), opset)]
    lines += ["    in : " + fmt(i) for i in m.graph.input]
    lines += ["    out: " + fmt(o) for o in m.graph.output]
    return "\n".join(lines)


def check_with_onnxruntime(path, feeds, expected, atol=1e-4, rtol=1e-4):
    """Optional: compare onnxruntime to the torch goldens. Skipped if ORT is absent."""
    try:
        import onnxruntime as ort  # noqa: F401
    except Exception:
        return "skipped (onnxruntime not importable)"
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, feeds)
    for n, o in zip(names, outs):
        np.testing.assert_allclose(o, expected[n], atol=atol, rtol=rtol)
    return "ok"


def split(X, y):
    return train_test_split(X, y, test_size=TEST_SIZE, random_state=SPLIT_SEED)


def accuracy(pred, y):
    return float((np.asarray(pred) == np.asarray(y)).mean())


# --------------------------------------------------------------------------
# 1. breast-cancer: standardisation + MLP 30->16->ReLU->1, raw logit
# --------------------------------------------------------------------------

class BreastCancerNet(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.net = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, features):
        return self.net((features - self.mean) / self.std)


def make_breast_cancer():
    seed_everything()
    ds = load_breast_cancer()
    X = ds.data.astype(np.float64)
    y = ds.target.astype(np.int64)
    names = [snake(n) for n in ds.feature_names]
    assert len(names) == 30

    X_tr, X_te, y_tr, y_te, idx_tr, idx_te = train_test_split(
        X, y, np.arange(len(y)), test_size=TEST_SIZE, random_state=SPLIT_SEED
    )
    mean = X_tr.astype(np.float32).mean(axis=0)
    std = X_tr.astype(np.float32).std(axis=0)
    std = np.where(std > 0, std, 1.0).astype(np.float32)

    model = BreastCancerNet(mean, std)
    xt = torch.tensor(X_tr, dtype=torch.float32)
    yt = torch.tensor(y_tr, dtype=torch.float32).unsqueeze(1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(200):  # full-batch epochs
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()

    model.eval()
    with torch.no_grad():
        logits_te = model(torch.tensor(X_te, dtype=torch.float32)).numpy()
    acc = accuracy((logits_te[:, 0] > 0).astype(np.int64), y_te)
    print("breast-cancer: test accuracy %.4f (n=%d)" % (acc, len(y_te)))
    assert acc > 0.95, acc

    name = "breast-cancer"
    onnx_path = os.path.join(MODELS_DIR, name + ".onnx")
    export_onnx(model, (torch.zeros(2, 30),), onnx_path, ["features"], ["logit"])

    write_json(os.path.join(MODELS_DIR, name + ".config.json"), {
        "name": name,
        "version": "1",
        "description": "Breast cancer (Wisconsin diagnostic) binary classifier: "
                       "standardisation baked into the graph, then MLP 30-16-1. "
                       "Outputs a raw logit; sigmoid(logit) is P(benign).",
        "inputs": {"features": {"features": names}},
        "outputs": {"logit": {"postprocess": "sigmoid", "threshold": 0.5,
                              "labels": ["malignant", "benign"]}},
        "dataset": "sklearn.datasets.load_breast_cancer",
        "test_accuracy": round(acc, 4),
    })

    g_X = X_te[:N_GOLDEN].astype(np.float32)
    with torch.no_grad():
        g_out = model(torch.from_numpy(g_X)).numpy()
    write_json(os.path.join(GOLDENS_DIR, name + ".json"), {
        "model": name,
        "inputs": {"features": tensor_entry(g_X, "float32")},
        "outputs": {"logit": tensor_entry(g_out, "float32")},
        "records": [{n: float(v) for n, v in zip(names, row)} for row in X_te[:N_GOLDEN]],
        "labels": [int(v) for v in y_te[:N_GOLDEN]],
        "row_ids": [int(v) for v in idx_te[:N_GOLDEN]],
    })
    ort = check_with_onnxruntime(onnx_path, {"features": g_X}, {"logit": g_out})
    print("breast-cancer: onnxruntime check:", ort)

    # whole dataset as JSONL (original float64 values, as in sklearn)
    rows = []
    for i in range(len(y)):
        r = {"id": i}
        r.update({n: float(v) for n, v in zip(names, X[i])})
        r["label"] = int(y[i])
        rows.append(r)
    write_jsonl(os.path.join(DATA_DIR, "breast-cancer.jsonl"), rows)
    return name, acc


# --------------------------------------------------------------------------
# 2. digits: small CNN on raw 0..16 pixels (scaled /16 in-graph)
# --------------------------------------------------------------------------

class DigitsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 4 * 4, 10),
        )

    def forward(self, image):
        return self.features(image / 16.0)


def make_digits():
    seed_everything()
    ds = load_digits()
    X = ds.data.astype(np.float32)  # (1797, 64), values 0..16
    y = ds.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te, idx_tr, idx_te = train_test_split(
        X, y, np.arange(len(y)), test_size=TEST_SIZE, random_state=SPLIT_SEED
    )
    model = DigitsNet()
    xt = torch.tensor(X_tr).reshape(-1, 1, 8, 8)
    yt = torch.tensor(y_tr)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)
    batch = 64
    model.train()
    for _ in range(30):
        perm = torch.randperm(len(yt), generator=gen)
        for s in range(0, len(yt), batch):
            b = perm[s:s + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[b]), yt[b])
            loss.backward()
            opt.step()

    model.eval()
    with torch.no_grad():
        logits_te = model(torch.tensor(X_te).reshape(-1, 1, 8, 8)).numpy()
    acc = accuracy(logits_te.argmax(axis=1), y_te)
    print("digits: test accuracy %.4f (n=%d)" % (acc, len(y_te)))
    assert acc > 0.95, acc

    name = "digits"
    onnx_path = os.path.join(MODELS_DIR, name + ".onnx")
    export_onnx(model, (torch.zeros(2, 1, 8, 8),), onnx_path, ["image"], ["logits"])

    write_json(os.path.join(MODELS_DIR, name + ".config.json"), {
        "name": name,
        "version": "1",
        "description": "Handwritten digits (8x8) classifier: small CNN. Input is the "
                       "raw 0..16 pixel values, row-major; scaling by 1/16 is done in the graph.",
        "inputs": {"image": {"shape": [1, 8, 8]}},
        "outputs": {"logits": {"postprocess": "softmax",
                               "labels": [str(d) for d in range(10)]}},
        "dataset": "sklearn.datasets.load_digits",
        "test_accuracy": round(acc, 4),
    })

    g_X = X_te[:N_GOLDEN].reshape(-1, 1, 8, 8).astype(np.float32)
    with torch.no_grad():
        g_out = model(torch.from_numpy(g_X)).numpy()
    write_json(os.path.join(GOLDENS_DIR, name + ".json"), {
        "model": name,
        "inputs": {"image": tensor_entry(g_X, "float32")},
        "outputs": {"logits": tensor_entry(g_out, "float32")},
        "records": [{"image": [int(v) for v in row]} for row in X_te[:N_GOLDEN]],
        "labels": [int(v) for v in y_te[:N_GOLDEN]],
        "row_ids": [int(v) for v in idx_te[:N_GOLDEN]],
    })
    ort = check_with_onnxruntime(onnx_path, {"image": g_X}, {"logits": g_out})
    print("digits: onnxruntime check:", ort)

    write_jsonl(os.path.join(DATA_DIR, "digits-sample.jsonl"), [
        {"id": i, "image": [int(v) for v in X[i]], "label": int(y[i])} for i in range(20)
    ])
    return name, acc


# --------------------------------------------------------------------------
# 3. wine-mixed: float32 + int64 inputs, two outputs
# --------------------------------------------------------------------------

BUCKET_FEATURES = [0, 6, 9]  # alcohol, flavanoids, color_intensity
N_BUCKETS = 8
EMB_DIM = 4


class WineMixedNet(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        # one table of 3*8 rows; column j uses rows [8j, 8j+8)
        self.register_buffer(
            "offsets", torch.arange(len(BUCKET_FEATURES), dtype=torch.int64) * N_BUCKETS
        )
        self.emb = nn.Embedding(N_BUCKETS * len(BUCKET_FEATURES), EMB_DIM)
        self.hidden = nn.Linear(13 + EMB_DIM * len(BUCKET_FEATURES), 32)
        self.out = nn.Linear(32, 3)

    def forward(self, numeric, buckets):
        z = (numeric - self.mean) / self.std
        e = torch.flatten(self.emb(buckets + self.offsets), 1)  # [batch, 12]
        h = torch.relu(self.hidden(torch.cat([z, e], dim=1)))
        return self.out(h), e


def bucketize(X, edges):
    """bucket id = number of edges <= value (np.searchsorted side='right'), 0..7."""
    cols = []
    for j, f in enumerate(BUCKET_FEATURES):
        cols.append(np.searchsorted(edges[j], X[:, f].astype(np.float32), side="right"))
    return np.stack(cols, axis=1).astype(np.int64)


def make_wine_mixed():
    seed_everything()
    ds = load_wine()
    X = ds.data.astype(np.float64)
    y = ds.target.astype(np.int64)
    names = [snake(n) for n in ds.feature_names]
    assert len(names) == 13
    bucket_names = [names[f] + "_bucket" for f in BUCKET_FEATURES]
    assert bucket_names == ["alcohol_bucket", "flavanoids_bucket", "color_intensity_bucket"]

    X_tr, X_te, y_tr, y_te, idx_tr, idx_te = train_test_split(
        X, y, np.arange(len(y)), test_size=TEST_SIZE, random_state=SPLIT_SEED
    )
    mean = X_tr.astype(np.float32).mean(axis=0)
    std = X_tr.astype(np.float32).std(axis=0)
    std = np.where(std > 0, std, 1.0).astype(np.float32)

    qs = np.arange(1, N_BUCKETS) / N_BUCKETS  # 7 interior edges -> 8 buckets
    edges = [
        np.quantile(X_tr[:, f], qs).astype(np.float32) for f in BUCKET_FEATURES
    ]
    # The edges are published as float32 values; make sure bucketing in float64
    # with those published values gives the same ids as float32 bucketing.
    for j, f in enumerate(BUCKET_FEATURES):
        b64 = np.searchsorted(np.array(f32_list(edges[j]), dtype=np.float64), X[:, f], side="right")
        assert (b64 == bucketize(X, edges)[:, j]).all(), "bucket edge ambiguity"
    B_tr = bucketize(X_tr, edges)
    B_te = bucketize(X_te, edges)
    assert B_tr.min() >= 0 and B_tr.max() < N_BUCKETS
    assert B_te.min() >= 0 and B_te.max() < N_BUCKETS

    model = WineMixedNet(mean, std)
    xt = torch.tensor(X_tr, dtype=torch.float32)
    bt = torch.tensor(B_tr)
    yt = torch.tensor(y_tr)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(200):  # full-batch epochs
        opt.zero_grad()
        logits, _ = model(xt, bt)
        loss = loss_fn(logits, yt)
        loss.backward()
        opt.step()

    model.eval()
    with torch.no_grad():
        logits_te, _ = model(torch.tensor(X_te, dtype=torch.float32), torch.tensor(B_te))
    acc = accuracy(logits_te.numpy().argmax(axis=1), y_te)
    print("wine-mixed: test accuracy %.4f (n=%d)" % (acc, len(y_te)))
    assert acc > 0.85, acc

    name = "wine-mixed"
    onnx_path = os.path.join(MODELS_DIR, name + ".onnx")
    export_onnx(
        model,
        (torch.zeros(2, 13), torch.zeros(2, 3, dtype=torch.int64)),
        onnx_path,
        ["numeric", "buckets"],
        ["logits", "embedding"],
    )

    write_json(os.path.join(MODELS_DIR, name + ".config.json"), {
        "name": name,
        "version": "1",
        "description": "Wine cultivar classifier with mixed inputs: 13 raw numeric features "
                       "(standardisation baked in) plus 3 int64 quantile-bucket ids, each "
                       "embedded in 4 dims. Outputs class logits and the 12-dim concatenated "
                       "embedding. bucket = number of edges <= value (0..7), i.e. "
                       "numpy.searchsorted(edges, value, side='right').",
        "inputs": {
            "numeric": {"features": names},
            "buckets": {
                "features": bucket_names,
                "dtype": "int64",
                "bucket_edges": {
                    bn: f32_list(e) for bn, e in zip(bucket_names, edges)
                },
                "source_features": [names[f] for f in BUCKET_FEATURES],
            },
        },
        "outputs": {
            "logits": {"postprocess": "softmax",
                       "labels": ["class_0", "class_1", "class_2"]},
            "embedding": {"postprocess": "none"},
        },
        "dataset": "sklearn.datasets.load_wine",
        "test_accuracy": round(acc, 4),
    })

    g_X = X_te[:N_GOLDEN].astype(np.float32)
    g_B = B_te[:N_GOLDEN]
    with torch.no_grad():
        g_logits, g_emb = model(torch.from_numpy(g_X), torch.from_numpy(g_B))
    g_logits, g_emb = g_logits.numpy(), g_emb.numpy()
    records = []
    for row, brow in zip(X_te[:N_GOLDEN], g_B):
        r = {n: float(v) for n, v in zip(names, row)}
        r.update({bn: int(b) for bn, b in zip(bucket_names, brow)})
        records.append(r)
    write_json(os.path.join(GOLDENS_DIR, name + ".json"), {
        "model": name,
        "inputs": {
            "numeric": tensor_entry(g_X, "float32"),
            "buckets": tensor_entry(g_B, "int64"),
        },
        "outputs": {
            "logits": tensor_entry(g_logits, "float32"),
            "embedding": tensor_entry(g_emb, "float32"),
        },
        "records": records,
        "labels": [int(v) for v in y_te[:N_GOLDEN]],
        "row_ids": [int(v) for v in idx_te[:N_GOLDEN]],
    })
    ort = check_with_onnxruntime(
        onnx_path, {"numeric": g_X, "buckets": g_B},
        {"logits": g_logits, "embedding": g_emb},
    )
    print("wine-mixed: onnxruntime check:", ort)
    return name, acc


# --------------------------------------------------------------------------

def bundle_demo():
    """The bundled demo model (what `omniserve serve`/`predict --model demo` use) is the
    breast-cancer fixture, copied into models/ with a 20-row sample, so the package ships
    it without its test folder."""
    import shutil
    demo = os.path.join(ROOT, "models")
    os.makedirs(demo, exist_ok=True)
    for fn in ("breast-cancer.onnx", "breast-cancer.config.json"):
        shutil.copyfile(os.path.join(MODELS_DIR, fn), os.path.join(demo, fn))
    with open(os.path.join(DATA_DIR, "breast-cancer.jsonl")) as src:
        lines = src.readlines()
    with open(os.path.join(demo, "breast-cancer.sample.jsonl"), "w") as dst:
        dst.writelines(lines[:20])
    # The demo server's in-memory feature store: every row as hash `user:{id}`.
    with open(os.path.join(demo, "breast-cancer.users.jsonl"), "w") as dst:
        dst.writelines(lines)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    results = [make_breast_cancer(), make_digits(), make_wine_mixed()]
    bundle_demo()

    print("\nONNX graphs:")
    for name, _ in results:
        print(describe_onnx(os.path.join(MODELS_DIR, name + ".onnx")))
    print("\nfiles:")
    for d in (MODELS_DIR, GOLDENS_DIR, DATA_DIR):
        for fn in sorted(os.listdir(d)):
            p = os.path.join(d, fn)
            print("  %-48s %9d bytes" % (os.path.relpath(p, ROOT), os.path.getsize(p)))
    print("\naccuracies: " + ", ".join("%s=%.4f" % r for r in results))


if __name__ == "__main__":
    sys.exit(main())
