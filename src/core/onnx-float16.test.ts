/**
 * usesFloat16 on the fixtures (scripts/make-dtype-fixtures.py) and on hand-built graphs for
 * the places float16 hides: a Cast's `to`, an initializer, a value_info's nested type, an If
 * branch, a model-local function. Bytes that are not a readable model are "no".
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { usesFloat16 } from './onnx-float16.ts';
import { encodeVarint, lenField } from './onnx-proto.ts';

const read = (name: string) => new Uint8Array(readFileSync(new URL(`../../test/fixtures/models/${name}.onnx`, import.meta.url)));

const enc = new TextEncoder();
const str = (field: number, s: string) => lenField(field, enc.encode(s));
const int = (field: number, n: number) => [...encodeVarint(field << 3), ...encodeVarint(n)];
/** NodeProto{op_type, attribute{name, i}} as GraphProto.node (field 1) or FunctionProto.node (field 7). */
const node = (op: string, attrs: number[][], field = 1) => lenField(field, [...str(4, op), ...attrs.flatMap((a) => lenField(5, a))]);
const castTo = (t: number, field = 1) => node('Cast', [[...str(1, 'to'), ...int(3, t)]], field);
const model = (graph: number[], extra: number[] = []) => new Uint8Array([...lenField(7, graph), ...extra]);

test('the fixtures: float16 inputs, outputs, weights or casts are found; float32 models are not', () => {
  for (const m of ['breast-cancer-fp16', 'dtypes', 'breast-cancer-f16-weights', 'half-inside']) assert.equal(usesFloat16(read(m)), true, m);
  for (const m of ['breast-cancer', 'digits', 'wine-mixed', 'wine-categorical', 'iris-zipmap', 'string-output']) assert.equal(usesFloat16(read(m)), false, m);
});

test('hand-built graphs: a Cast to float16, an initializer, a nested value_info type, an If branch, a function', () => {
  assert.equal(usesFloat16(model(castTo(10))), true, 'Cast to=FLOAT16');
  assert.equal(usesFloat16(model(castTo(1))), false, 'Cast to=FLOAT');
  // An integer attribute of value 10 that is not a type is not float16 (e.g. an axis).
  assert.equal(usesFloat16(model(node('Concat', [[...str(1, 'axis'), ...int(3, 10)]]))), false, 'axis=10');
  // GraphProto.initializer: TensorProto{dims, data_type = 10}.
  assert.equal(usesFloat16(model(lenField(5, [...int(1, 4), ...int(2, 10), ...str(8, 'w')]))), true, 'float16 initializer');
  assert.equal(usesFloat16(model(lenField(5, [...int(1, 4), ...int(2, 1), ...str(8, 'w')]))), false, 'float32 initializer');
  // GraphProto.value_info: ValueInfoProto{name, type: TypeProto{sequence_type{elem_type: TypeProto{tensor_type{elem_type 10}}}}}.
  const seqOfHalf = lenField(4, lenField(1, lenField(1, int(1, 10))));
  assert.equal(usesFloat16(model(lenField(13, [...str(1, 'v'), ...lenField(2, seqOfHalf)]))), true, 'sequence of float16');
  // An If whose then_branch (AttributeProto.g) casts to float16.
  assert.equal(usesFloat16(model(node('If', [[...str(1, 'then_branch'), ...lenField(6, castTo(10))]]))), true, 'If branch');
  assert.equal(usesFloat16(model(node('If', [[...str(1, 'then_branch'), ...lenField(6, castTo(1))]]))), false, 'If branch, float32');
  // ModelProto.functions (25): FunctionProto.node (7) casting to float16.
  assert.equal(usesFloat16(model(castTo(1), lenField(25, [...str(1, 'f'), ...castTo(10, 7)]))), true, 'function');
});

test('bytes that are not a readable model are "no", never an exception', () => {
  const bc = read('breast-cancer-fp16');
  for (const bytes of [new Uint8Array(0), enc.encode('not an onnx model'), bc.subarray(0, 40), Uint8Array.from({ length: 256 }, (_, i) => (i * 37) & 255)]) {
    assert.equal(usesFloat16(bytes), false);
  }
});
