#!/usr/bin/env python3
"""Generate test/fixtures/models/slow-matmul.onnx: a model whose batch run is slow and whose
file is tiny, for the tests of `models[].workers: "auto"` (a model whose 64-row run takes
10 ms or more is served from a worker thread).

    /usr/bin/python3 scripts/make-slow-fixture.py

Needs onnx (Debian: python3-onnx). The graph: input "x" float32 [batch, 2048]; a 2048 x 2048
matrix of 1/2048 made at load (ConstantOfShape, so the file holds no weights); 24 MatMuls
by it (about 6.4 G multiply-adds for 64 rows: ~100 ms on a 2-core machine of 2026); then the
mean over the columns, output "mean" [batch, 1]. Every MatMul by that matrix replaces each
value with the row's mean, so the answer is the mean of the input row: a test checks it
without a golden file. Deterministic.
"""
import onnx
from onnx import TensorProto, helper

WIDTH = 2048
DEPTH = 24


def main() -> None:
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [WIDTH, WIDTH])
    nodes = [
        helper.make_node(
            "ConstantOfShape", ["shape"], ["w"],
            value=helper.make_tensor("value", TensorProto.FLOAT, [1], [1.0 / WIDTH]),
        )
    ]
    prev = "x"
    for i in range(DEPTH):
        nodes.append(helper.make_node("MatMul", [prev, "w"], [f"h{i}"]))
        prev = f"h{i}"
    nodes.append(helper.make_node("ReduceMean", [prev], ["mean"], axes=[1], keepdims=1))
    graph = helper.make_graph(
        nodes, "slow_matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTH])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["batch", 1])],
        initializer=[shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="omniserve-fixtures")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, "test/fixtures/models/slow-matmul.onnx")
    print("wrote test/fixtures/models/slow-matmul.onnx")


if __name__ == "__main__":
    main()
