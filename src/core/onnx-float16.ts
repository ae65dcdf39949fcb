/**
 * Whether an ONNX model computes anything in float16, read from its protobuf: a float16
 * graph input, output or value_info, an initializer or constant tensor, a Cast (or any
 * node's `to`/`dtype` attribute) to float16, in the main graph, its subgraphs (If, Loop,
 * Scan bodies) and its functions. A model exported with float32 inputs and outputs but
 * float16 weights or casts inside (a mixed-precision export) is one.
 *
 * Why: onnxruntime-web's WebGPU kernels for float16 need the device feature `shader-f16`,
 * and without it they answer zeros or garbage instead of failing (src/backends/onnxruntime.ts
 * refuses such a model on such a device). Never throws: unreadable bytes are "no" and the
 * backend reports what is wrong with the model.
 * @module
 */
import { fields, graphOf, text, type Field } from './onnx-proto.ts';

/** TensorProto.DataType FLOAT16. */
const FLOAT16 = 10n;
/** Subgraphs nested deeper than this are not read (no real model comes near). */
const MAX_DEPTH = 32;

// ModelProto.functions = 25; FunctionProto.node = 7. GraphProto.node = 1, .initializer = 5,
// .input = 11, .output = 12, .value_info = 13, .sparse_initializer = 15. NodeProto.attribute = 5.
// AttributeProto.name = 1, .i = 3, .t = 5, .g = 6, .tensors = 10, .graphs = 11,
// .sparse_tensor = 22, .sparse_tensors = 23. TensorProto.data_type = 2. SparseTensorProto.values = 1.
// ValueInfoProto.type = 2. TypeProto.tensor_type = 1, .sequence_type = 4, .map_type = 5,
// .sparse_tensor_type = 8, .optional_type = 9; Tensor/SparseTensor.elem_type = 1;
// Sequence/Optional.elem_type = 1 (a TypeProto); Map.value_type = 2 (a TypeProto).

/** Integer attributes that name an element type. */
const TYPE_ATTRIBUTES = new Set(['to', 'dtype', 'output_dtype']);

const sub = (buf: Uint8Array, f: Field) => fields(buf, f.start, f.end);

function tensorIsHalf(buf: Uint8Array, t: Field): boolean {
  return sub(buf, t).some((x) => x.field === 2 && x.wire === 0 && x.varint === FLOAT16);
}

function sparseIsHalf(buf: Uint8Array, s: Field): boolean {
  return sub(buf, s).some((x) => x.field === 1 && x.wire === 2 && tensorIsHalf(buf, x));
}

function typeIsHalf(buf: Uint8Array, type: Field, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  for (const k of sub(buf, type)) {
    if (k.wire !== 2) continue;
    if (k.field === 1 || k.field === 8) {
      if (sub(buf, k).some((x) => x.field === 1 && x.wire === 0 && x.varint === FLOAT16)) return true;
    } else if (k.field === 4 || k.field === 9 || k.field === 5) {
      const inner = k.field === 5 ? 2 : 1;
      if (sub(buf, k).some((x) => x.field === inner && x.wire === 2 && typeIsHalf(buf, x, depth + 1))) return true;
    }
  }
  return false;
}

function valueInfoIsHalf(buf: Uint8Array, v: Field, depth: number): boolean {
  return sub(buf, v).some((x) => x.field === 2 && x.wire === 2 && typeIsHalf(buf, x, depth));
}

function nodeIsHalf(buf: Uint8Array, node: Field, depth: number): boolean {
  for (const a of sub(buf, node)) {
    if (a.field !== 5 || a.wire !== 2) continue;
    const attr = sub(buf, a);
    const name = attr.find((x) => x.field === 1 && x.wire === 2);
    for (const x of attr) {
      if (x.field === 3 && x.wire === 0) {
        if (x.varint === FLOAT16 && name && TYPE_ATTRIBUTES.has(text(buf, name))) return true;
      } else if (x.wire === 2) {
        if ((x.field === 5 || x.field === 10) && tensorIsHalf(buf, x)) return true;
        if ((x.field === 22 || x.field === 23) && sparseIsHalf(buf, x)) return true;
        if ((x.field === 6 || x.field === 11) && graphIsHalf(buf, x, depth + 1)) return true;
      }
    }
  }
  return false;
}

function graphIsHalf(buf: Uint8Array, graph: Field, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  for (const f of sub(buf, graph)) {
    if (f.wire !== 2) continue;
    switch (f.field) {
      case 1: if (nodeIsHalf(buf, f, depth)) return true; break;
      case 5: if (tensorIsHalf(buf, f)) return true; break;
      case 15: if (sparseIsHalf(buf, f)) return true; break;
      case 11: case 12: case 13: if (valueInfoIsHalf(buf, f, depth)) return true; break;
      default: break;
    }
  }
  return false;
}

/** True when `model` (ONNX bytes) has float16 anywhere; false for bytes that cannot be read. */
export function usesFloat16(model: Uint8Array): boolean {
  try {
    const graph = graphOf(model);
    if (graph && graphIsHalf(model, graph, 0)) return true;
    for (const fn of fields(model, 0, model.byteLength)) {
      if (fn.field !== 25 || fn.wire !== 2) continue;
      for (const n of sub(model, fn)) if (n.field === 7 && n.wire === 2 && nodeIsHalf(model, n, 1)) return true;
    }
    return false;
  } catch {
    return false;
  }
}
