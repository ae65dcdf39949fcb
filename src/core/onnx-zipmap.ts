/**
 * ZipMap outputs, read from and rewritten in the ONNX protobuf itself (no ONNX library runs in
 * every host, and only a few fields are needed). A scikit-learn classifier exported with
 * ZipMap (skl2onnx's default) hands its class probabilities to a ZipMap node whose output, a
 * sequence of maps, no onnxruntime JavaScript binding can return. The float tensor going into
 * that ZipMap is exactly the probabilities, so `exposeZipMapInputs` adds it to the graph's
 * outputs: the model then answers probabilities without being exported again.
 *
 * The reader never throws: bytes it cannot walk (corrupt, truncated, not ONNX) give no
 * ZipMaps, and the backend reports what is wrong with the model.
 * @module
 */
import { fields, graphOf, lenField, MODEL_GRAPH, encodeVarint, signed, text, varint, type Field } from './onnx-proto.ts';

/** One ZipMap whose output is a graph output. */
export interface ZipMapInfo {
  /** The graph output the ZipMap produces (a sequence of maps). */
  readonly output: string;
  /** The float tensor of class probabilities going into it. */
  readonly tensor: string;
  /** Its class labels (classlabels_int64s or classlabels_strings), in column order. */
  readonly labels: readonly (number | string)[];
}

// ModelProto.graph = 7; GraphProto.node = 1, .output = 12; NodeProto.input = 1, .output = 2,
// .op_type = 4, .attribute = 5, .domain = 7; AttributeProto.name = 1, .ints = 8, .strings = 9;
// ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1; TypeProto.Tensor.elem_type = 1.
const GRAPH_NODE = 1;
const GRAPH_OUTPUT = 12;

function labelsOf(buf: Uint8Array, node: Field[]): (number | string)[] {
  for (const a of node.filter((f) => f.field === 5 && f.wire === 2)) {
    const attr = fields(buf, a.start, a.end);
    const name = attr.find((f) => f.field === 1 && f.wire === 2);
    if (!name) continue;
    const n = text(buf, name);
    if (n === 'classlabels_int64s') {
      const ints: number[] = [];
      for (const f of attr.filter((x) => x.field === 8)) {
        if (f.wire === 0) ints.push(signed(f.varint!));
        else if (f.wire === 2) for (let p = f.start; p < f.end;) { const [v, q] = varint(buf, p, f.end); ints.push(signed(v)); p = q; }
      }
      return ints;
    }
    if (n === 'classlabels_strings') return attr.filter((x) => x.field === 9 && x.wire === 2).map((f) => text(buf, f));
  }
  return [];
}

/** The ZipMaps of `model` whose output is a graph output; none for bytes that cannot be read. */
export function findZipMaps(model: Uint8Array): ZipMapInfo[] {
  try {
    const graph = graphOf(model);
    if (!graph) return [];
    const g = fields(model, graph.start, graph.end);
    const outputs = new Set(g.filter((f) => f.field === GRAPH_OUTPUT && f.wire === 2).map((f) => {
      const name = fields(model, f.start, f.end).find((x) => x.field === 1 && x.wire === 2);
      return name ? text(model, name) : '';
    }));
    const found: ZipMapInfo[] = [];
    for (const n of g.filter((f) => f.field === GRAPH_NODE && f.wire === 2)) {
      const node = fields(model, n.start, n.end);
      const op = node.find((f) => f.field === 4 && f.wire === 2);
      if (!op || text(model, op) !== 'ZipMap') continue;
      const input = node.find((f) => f.field === 1 && f.wire === 2);
      const output = node.find((f) => f.field === 2 && f.wire === 2);
      if (!input || !output || !outputs.has(text(model, output))) continue;
      found.push({ output: text(model, output), tensor: text(model, input), labels: labelsOf(model, node) });
    }
    return found.filter((z) => !outputs.has(z.tensor));
  } catch {
    return [];
  }
}

/**
 * `model` with each named tensor added to the graph's outputs as a float tensor of unknown
 * shape (a ZipMap's input is always tensor(float)). Returns `model` itself when there is
 * nothing to add or its graph cannot be read.
 */
export function exposeZipMapInputs(model: Uint8Array, tensors: readonly string[]): Uint8Array {
  if (tensors.length === 0) return model;
  let graph: Field | undefined;
  try {
    graph = graphOf(model);
  } catch {
    return model;
  }
  if (!graph) return model;
  const added: number[] = [];
  for (const name of tensors) {
    const tensorType = lenField(1, [0x08, 0x01]); // TypeProto.tensor_type { elem_type: FLOAT }
    const valueInfo = [...lenField(1, new TextEncoder().encode(name)), ...lenField(2, tensorType)];
    added.push(...lenField(GRAPH_OUTPUT, valueInfo));
  }
  const graphLen = graph.end - graph.start + added.length;
  const head = [...encodeVarint((MODEL_GRAPH << 3) | 2), ...encodeVarint(graphLen)];
  const out = new Uint8Array(graph.at + head.length + graphLen + (model.byteLength - graph.end));
  out.set(model.subarray(0, graph.at), 0);
  let p = graph.at;
  out.set(head, p);
  p += head.length;
  out.set(model.subarray(graph.start, graph.end), p);
  p += graph.end - graph.start;
  out.set(added, p);
  p += added.length;
  out.set(model.subarray(graph.end), p);
  return out;
}
