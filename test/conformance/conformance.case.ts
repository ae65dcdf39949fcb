/**
 * The conformance suite: one set of cases run on every host × backend pair (Node, Bun and
 * Deno entry files register them with their own test runner). Outputs are checked against
 * goldens computed by torch, an independent reference; bad input must give named errors
 * and leave the engine working.
 * @module
 */
import {
  createEngine, fromHalf, isOmniserveError, tensorFromNumbers, toHalf, toPlainArray,
  type BackendId, type Model, type DType, type Engine, type ErrorCode, type FeatureRecord, type RuntimeAdapter, type TensorData,
} from '../../src/index.ts';

/** Registers one test with the host's runner. */
export type RegisterTest = (name: string, fn: () => Promise<void>) => void;

/**
 * The suite's files (test/fixtures/: `models/…`, `goldens/…`), as the host has them: read from
 * disk on Node, Bun and Deno (node-fixtures.ts), bundled into the Worker on workerd.
 */
export interface FixtureReader {
  /** The bytes of fixture `rel`. */
  bytes(rel: string): Uint8Array;
  /** What `models.load({ source })` takes for fixture `rel`: a path the target's runtime reads. */
  source(rel: string): string;
}

/** What a host runs the suite against. */
export interface ConformanceTarget {
  readonly host: string;
  readonly backend: BackendId;
  readonly runtime: () => RuntimeAdapter;
  readonly fixtures: FixtureReader;
}

const MODELS = ['breast-cancer', 'digits', 'wine-mixed'] as const;
type Golden = {
  inputs: Record<string, { dtype: DType; dims: number[]; data: number[] }>;
  outputs: Record<string, { dtype: DType; dims: number[]; data: number[] }>;
  records: FeatureRecord[];
  labels: number[];
};


/** |got - want| ≤ 1e-4 · max(1, |want|): 1e-4 absolute for values up to 1, relative beyond. */
export function assertClose(got: ArrayLike<number | bigint>, want: ArrayLike<number>, what: string, tol = 1e-4): void {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length}, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const g = Number(got[i]);
    const w = want[i]!;
    if (!(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)))) {
      throw new Error(`${what}[${i}]: got ${g}, expected ${w} (tolerance ${tol})`);
    }
  }
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

async function expectError(code: ErrorCode, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert(isOmniserveError(e), `expected OmniserveError ${code}, got ${String(e)}`);
    assert(e.code === code, `expected ${code}, got ${e.code}: ${e.message}`);
    assert(e.message.length > 0 && !e.message.includes('    at '), `error message of ${code} must be clean`);
    return;
  }
  throw new Error(`expected error ${code}, but the call succeeded`);
}

function feedsOf(g: Golden): Record<string, TensorData> {
  const feeds: Record<string, TensorData> = {};
  for (const [name, t] of Object.entries(g.inputs)) feeds[name] = tensorFromNumbers(t.dtype, t.data, t.dims, name);
  return feeds;
}

/**
 * The names the suite registers for `host` on each of `backends`, without running anything:
 * what a test driving the suite in another process (workerd, a browser page) runs by name,
 * so a case the bundle lacks fails by name instead of going missing.
 */
export function caseNames(host: string, backends: readonly BackendId[]): string[] {
  const names: string[] = [];
  const unused = () => { throw new Error('not run here'); };
  for (const backend of backends) runConformance((name) => void names.push(name), { host, backend, runtime: unused, fixtures: { bytes: unused, source: unused } });
  return names;
}

/** Registers every conformance case for one host × backend. */
export function runConformance(test: RegisterTest, target: ConformanceTarget): void {
  const fx = target.fixtures;
  const json = <T>(rel: string): T => JSON.parse(new TextDecoder().decode(fx.bytes(rel))) as T;
  const golden = (m: string): Golden => json(`goldens/${m}.json`);
  const modelPath = (m: string) => fx.source(`models/${m}.onnx`);
  const label = `${target.host} × ${target.backend}`;
  const fresh = () => createEngine(target.runtime(), { backend: target.backend });
  /** Engines a case opened beside its own, closed with it. */
  const extra: Engine[] = [];
  const withEngine = async (fn: (e: Engine) => Promise<void>) => {
    const e = fresh();
    try {
      await fn(e);
    } finally {
      await e.close();
      for (const x of extra.splice(0)) await x.close();
    }
  };
  /** An engine over the web backends only, asking for `auto` (what a page or a Worker has). */
  const webOnly = () => {
    const all = target.runtime();
    return createEngine({ ...all, backends: all.backends.filter((b) => b.id === 'web-webgpu' || b.id === 'web-wasm') }, { backend: 'auto' });
  };

  /**
   * Loads a model with float16 inputs or outputs, pinned to the target. On a WebGPU device
   * without `shader-f16` (Chromium's SwiftShader) onnxruntime-web's float16 kernels cannot
   * run: the pinned load must be refused naming the feature, and `auto` over the web backends
   * must skip WebGPU for that reason and land on WASM; that model is the one the case checks.
   */
  const loadHalfModel = async (e: Engine, m: string): Promise<Model> => {
    try {
      return await e.models.load({ source: modelPath(m) });
    } catch (err) {
      if (target.backend !== 'web-webgpu' || !isOmniserveError(err, 'INVALID_MODEL') || err.details?.['missingFeature'] !== 'shader-f16') throw err;
      assert(/"shader-f16"/.test(err.message) && /float16/.test(err.message), `reason: ${err.message}`);
      const web = webOnly();
      extra.push(web);
      const model = await web.models.load({ source: modelPath(m) });
      const skipped = model.metadata.skippedBackends ?? [];
      assert(model.backend.id === 'web-wasm', `auto chose ${model.backend.id}`);
      assert(skipped.length === 1 && skipped[0]!.backend === 'web-webgpu' && /shader-f16/.test(skipped[0]!.reason), `skipped: ${JSON.stringify(skipped)}`);
      return model;
    }
  };

  test(`${label}: backend probes and is selected when pinned`, () => withEngine(async (e) => {
    const b = await e.backends.resolve(target.backend);
    assert(b.id === target.backend, `resolved ${b.id}`);
    const row = e.backends.status().find((s) => s.id === target.backend);
    assert(row?.state === 'available', `status of ${target.backend}: ${row?.state}`);
  }));

  for (const m of MODELS) {
    test(`${label}: ${m} tensors match torch goldens`, () => withEngine(async (e) => {
      const g = golden(m);
      const model = await e.models.load({ source: modelPath(m) });
      assert(model.backend.id === target.backend, `model ran on ${model.backend.id}`);
      const out = await model.infer(feedsOf(g));
      for (const [name, want] of Object.entries(g.outputs)) {
        const got = out[name];
        assert(got, `output ${name} missing`);
        assert(got.dims.join() === want.dims.join(), `${name} dims [${got.dims}] vs [${want.dims}]`);
        assertClose(got.data as Float32Array, want.data, `${m}.${name}`);
      }
    }));

    test(`${label}: ${m} records match goldens, batch 1 and batched agree`, () => withEngine(async (e) => {
      const g = golden(m);
      const model = await e.models.load({ source: modelPath(m) });
      const all = await model.predict(g.records);
      assert(all.length === g.records.length, 'one result per record');
      const [outName, want] = Object.entries(g.outputs)[0]!;
      const per = want.data.length / g.records.length;
      all.forEach((r, i) => {
        const v = r.outputs[outName]!;
        assertClose(typeof v === 'number' ? [v] : v as number[], want.data.slice(i * per, (i + 1) * per), `${m} row ${i} ${outName}`);
        assert(r.prediction !== undefined && r.probability !== undefined, `row ${i}: prediction and probability`);
        assert(r.probability >= 0 && r.probability <= 1, `row ${i}: probability ${r.probability} in [0,1]`);
      });
      const correct = all.filter((r, i) => r.prediction === g.labels[i]).length;
      assert(correct / all.length >= 0.85, `${m}: accuracy ${correct}/${all.length} on golden rows`);
      const single = await model.predict([g.records[5]!]);
      assertClose(Object.values(single[0]!.outputs).flat() as number[], Object.values(all[5]!.outputs).flat() as number[], `${m} batch-1 vs batched`);
    }));
  }

  test(`${label}: float16 conversions agree with numpy and with the host's Math.f16round`, async () => {
    const { pairs } = json('goldens/float16.json') as { pairs: [number | string, number][] };
    for (const [v, bits] of pairs) {
      const x = typeof v === 'number' ? v : v === 'Infinity' ? Infinity : -Infinity;
      assert(toHalf(x) === bits, `toHalf(${v}) = ${toHalf(x)}, numpy ${bits}`);
    }
    const f16round = (Math as { f16round?: (x: number) => number }).f16round;
    for (let h = 0; h < 0x10000; h++) {
      const x = fromHalf(h);
      if (x !== x) continue;
      assert(toHalf(x) === h, `toHalf(fromHalf(${h}))`);
      if (f16round) assert(Object.is(f16round(x), x), `Math.f16round(${x})`);
    }
  });

  test(`${label}: float16 inside a float32 model (float16 weights; a Cast round trip) answers like numpy`, () => withEngine(async (e) => {
    const g = json<{ inputs: { features: { dims: number[]; data: number[] } }; outputs: { logit: { data: number[] } } }>('goldens/breast-cancer-f16-weights.json');
    const model = await loadHalfModel(e, 'breast-cancer-f16-weights');
    assert(model.metadata.inputs[0]!.dtype === 'float32' && model.metadata.outputs[0]!.dtype === 'float32', 'float32 in and out');
    const out = await model.infer({ features: tensorFromNumbers('float32', g.inputs.features.data, g.inputs.features.dims) });
    assertClose(out['logit']!.data as Float32Array, g.outputs.logit.data, 'logits with float16 weights');
    const round = await loadHalfModel(e, 'half-inside');
    const xs = [0.1, 1 / 3, 2 ** -24, 1.5, 1000.7, -2.5, 65504, 1e-3];
    const y = await round.infer({ x: tensorFromNumbers('float32', xs, [2, 4]) });
    const want = xs.map((x) => fromHalf(toHalf(x)));
    assert([...(y['y']!.data as Float32Array)].join() === want.join(), `a Cast round trip gave ${[...(y['y']!.data as Float32Array)]}, float16 rounding is ${want}`);
  }));

  test(`${label}: a float16 model: half-precision tensors in and out, records through it`, () => withEngine(async (e) => {
    const g = json('goldens/breast-cancer-fp16.json') as {
      inputs: { features: { dims: number[]; bits: number[] } };
      outputs: { logit: { dims: number[]; bits: number[]; values: number[] } };
    };
    const model = await loadHalfModel(e, 'breast-cancer-fp16');
    assert(model.metadata.inputs[0]!.dtype === 'float16' && model.metadata.outputs[0]!.dtype === 'float16', 'float16 metadata');
    const input = g.inputs.features;
    const out = await model.infer({ features: { dtype: 'float16', data: Uint16Array.from(input.bits), dims: input.dims } });
    const logit = out['logit']!;
    assert(logit.dtype === 'float16' && logit.data instanceof Uint16Array, `float16 output held as bits, got ${logit.dtype} ${logit.data.constructor.name}`);
    // numpy's float32 sums and onnxruntime's may round the last bits apart: one float16 step.
    g.outputs.logit.bits.forEach((b, i) => {
      const got = logit.data[i] as number;
      assert(Math.abs(got - b) <= 1 && (got & 0x8000) === (b & 0x8000), `logit[${i}]: bits ${got}, numpy ${b}`);
    });
    assertClose(toPlainArray(logit) as number[], g.outputs.logit.values, 'float16 logits as numbers', 4e-3);
    // Records (plain numbers) are rounded to float16 on the way in and answered as numbers.
    const records = golden('breast-cancer').records;
    const res = await model.predict(records);
    res.forEach((r, i) => {
      const want = g.outputs.logit.values[i]!;
      assertClose([r.outputs['logit'] as number], [want], `predict row ${i}`, 4e-3);
      assert(Math.abs(r.probability! - 1 / (1 + Math.exp(-want))) < 1e-3, `row ${i}: probability ${r.probability}`);
    });
    await expectError('INVALID_FEATURE_VALUE', () => model.predict([{ ...records[0]!, mean_area: 70_000 }]));
    await expectError('INVALID_FEATURE_VALUE', () => model.infer({ features: { dtype: 'float16', data: new Uint16Array(30).fill(0x7c00), dims: [1, 30] } }));
    await expectError('DTYPE_MISMATCH', () => model.infer({ features: tensorFromNumbers('float32', new Array(30).fill(1), [1, 30]) }));
    const F16 = (globalThis as { Float16Array?: new (n: number) => ArrayLike<number> }).Float16Array;
    if (F16) await expectError('DTYPE_MISMATCH', () => model.infer({ features: { dtype: 'float16', data: new F16(30) as never, dims: [1, 30] } }));
    assert((await model.predict([records[3]!]))[0]!.prediction === res[3]!.prediction, 'still works after bad input');
  }));

  test(`${label}: two models run at once answer as they do one at a time`, () => withEngine(async (e) => {
    // onnxruntime-web's WebGPU build breaks when a second run enters it while one waits for
    // the GPU; the backend must make them take turns. Each model's batcher runs one batch at
    // a time, so the overlap here is between models (and their record batches).
    const models = await Promise.all(['breast-cancer', 'digits'].map((m) => e.models.load({ source: modelPath(m) })));
    const goldens = ['breast-cancer', 'digits'].map(golden);
    const serial = [];
    for (let i = 0; i < 2; i++) serial.push(await models[i]!.infer(feedsOf(goldens[i]!)));
    const rounds = 6;
    const jobs = [];
    for (let k = 0; k < rounds; k++) for (let i = 0; i < 2; i++) jobs.push(models[i]!.infer(feedsOf(goldens[i]!)).then((out) => ({ i, out })));
    const done = await Promise.all(jobs);
    assert(done.length === rounds * 2, `${done.length} answers`);
    for (const { i, out } of done) {
      for (const [name, want] of Object.entries(serial[i]!)) assertClose(out[name]!.data as Float32Array, Array.from(want.data as Float32Array), `model ${i} ${name} concurrent vs serial`, 1e-6);
    }
  }));

  test(`${label}: int8, int16, uint16, uint32, uint64, float16 and bool go through unchanged`, () => withEngine(async (e) => {
    const model = await loadHalfModel(e, 'dtypes');
    const values: Record<string, [DType, (number | string)[]]> = {
      i8: ['int8', [-128, 127, 0, -1]],
      i16: ['int16', [-32768, 32767, 12345, -2]],
      u16: ['uint16', [0, 65535, 40000, 1]],
      u32: ['uint32', [0, 4294967295, 3000000000, 7]],
      u64: ['uint64', ['18446744073709551615', '9223372036854777856', 0, 12345]],
      f16: ['float16', [0.1, -65504, 2 ** -24, 1.5]],
      b: ['bool', [1, 0, 0, 1]],
    };
    const feeds: Record<string, TensorData> = {};
    for (const [name, [dtype, data]] of Object.entries(values)) feeds[name] = tensorFromNumbers(dtype, data, [2, 2], name);
    const out = await model.infer(feeds);
    for (const [name, [dtype]] of Object.entries(values)) {
      const got = out[`${name}_out`]!;
      assert(got.dtype === dtype, `${name}_out is ${got.dtype}`);
      assert(got.data.constructor === feeds[name]!.data.constructor, `${name}_out held in ${got.data.constructor.name}`);
      assert([...got.data].join() === [...feeds[name]!.data].join(), `${name}_out: ${[...got.data]} vs ${[...feeds[name]!.data]}`);
    }
    // What onnxruntime read from the bits: float16 cast to float32 inside the graph.
    assert(toPlainArray(out['f16_as_f32']!).join() === [fromHalf(toHalf(0.1)), -65504, 2 ** -24, 1.5].join(), `f16_as_f32 ${toPlainArray(out['f16_as_f32']!)}`);
    assert([...out['u64_out']!.data].join() === [2n ** 64n - 1n, 2n ** 63n + 2048n, 0n, 12345n].join(), `u64_out ${[...out['u64_out']!.data]}`);
    // Records: plain numbers per input row, results as numbers.
    const rec: FeatureRecord = { i8: [-128, 5], i16: [300, -300], u16: [65535, 0], u32: [4294967295, 1], u64: [2 ** 53 - 1, 3], f16: [-2.5, 1000], b: [true, false] };
    const [r] = await model.predict([rec]);
    assert(JSON.stringify(r!.outputs['f16_out']) === '[-2.5,1000]', `f16_out ${JSON.stringify(r!.outputs['f16_out'])}`);
    assert(JSON.stringify(r!.outputs['u64_out']) === `[${2 ** 53 - 1},3]`, `u64_out ${JSON.stringify(r!.outputs['u64_out'])}`);
    assert(JSON.stringify(r!.outputs['u32_out']) === '[4294967295,1]', `u32_out ${JSON.stringify(r!.outputs['u32_out'])}`);
    assert(JSON.stringify(r!.outputs['b_out']) === '[1,0]', `b_out ${JSON.stringify(r!.outputs['b_out'])}`);
    await expectError('INVALID_FEATURE_VALUE', () => model.predict([{ ...rec, u16: [65536, 0] }]));
    await expectError('INVALID_FEATURE_VALUE', () => model.predict([{ ...rec, u64: [-1, 0] }]));
    await expectError('INVALID_FEATURE_VALUE', () => model.predict([{ ...rec, f16: [1e5, 0] }]));
    await expectError('INVALID_FEATURE_TYPE', () => model.predict([{ ...rec, i16: [1.5, 0] }]));
    // A string output (a label as text): answered as strings; numeric post-processing on it is refused at load.
    const so = await e.models.load({ source: modelPath('string-output') });
    assert(so.metadata.outputs[0]!.dtype === 'string', 'string output metadata');
    const texts = await so.predict([{ s: ['héllo'] }, { s: [''] }, { s: ['class_2'] }]);
    assert(JSON.stringify(texts.map((r) => r.outputs['s_out'])) === '["héllo","","class_2"]', `s_out ${JSON.stringify(texts.map((r) => r.outputs['s_out']))}`);
    const st = await so.infer({ s: tensorFromNumbers('string', ['a', 'bb'], [2, 1]) });
    assert(st['s_out']!.dtype === 'string' && JSON.stringify(st['s_out']!.data) === '["a","bb"]', `s_out tensor ${JSON.stringify(st['s_out'])}`);
    await expectError('INVALID_CONFIG', () => e.models.load({ source: modelPath('string-output'), name: 'so2', config: { outputs: { s_out: { postprocess: 'sigmoid' } } } }));
  }));

  test(`${label}: a scikit-learn classifier exported with ZipMap: label and probabilities served, the map output skipped and named`, () => withEngine(async (e) => {
    const g = json('goldens/iris-zipmap.json') as { rows: number[][]; predicted: number[]; probabilities: number[][] };
    // onnxruntime-web's WebGPU-only build has no LinearClassifier (ai.onnx.ml): `auto` over the
    // web backends lands on WASM there, as for the categorical model below.
    const engine = target.backend === 'web-webgpu' ? webOnly() : e;
    try {
      const model = await engine.models.load({ source: modelPath('iris-zipmap') });
      // The ZipMap's input (the probabilities) is exposed as an output; the map itself is skipped.
      assert(JSON.stringify(model.metadata.outputs.map((o) => [o.name, o.dtype])) === '[["output_label","int64"],["probability_tensor","float32"]]', `outputs ${JSON.stringify(model.metadata.outputs)}`);
      const skipped = model.metadata.skippedOutputs ?? [];
      assert(skipped.length === 1 && skipped[0]!.name === 'output_probability' && /probability_tensor/.test(skipped[0]!.reason), `skipped ${JSON.stringify(skipped)}`);
      const res = await model.predict(g.rows.map((r) => ({ float_input: r })));
      res.forEach((r, i) => {
        assert(r.outputs['output_label'] === g.predicted[i], `row ${i}: label ${String(r.outputs['output_label'])} vs scikit-learn ${g.predicted[i]}`);
        assert(r.prediction === g.predicted[i] && r.label === String(g.predicted[i]), `row ${i}: prediction ${r.prediction} label ${r.label}`);
        assertClose(r.outputs['probability_tensor'] as number[], g.probabilities[i]!, `row ${i} probabilities`, 1e-5);
        assert(Math.abs(r.probability! - Math.max(...g.probabilities[i]!)) < 1e-5, `row ${i}: probability ${r.probability}`);
      });
      const t = await model.infer({ float_input: tensorFromNumbers('float32', g.rows.flat(), [g.rows.length, 4]) });
      assert(Object.keys(t).join() === 'output_label,probability_tensor' && [...t['output_label']!.data].map(Number).join() === g.predicted.join(), 'tensor labels');
      assertClose(t['probability_tensor']!.data as Float32Array, g.probabilities.flat(), 'tensor probabilities', 1e-5);
      // Text labels: the species names come from the ZipMap.
      const named = await engine.models.load({ source: modelPath('iris-zipmap-strings') });
      const species = ['setosa', 'versicolor', 'virginica'];
      const rs = await named.predict(g.rows.slice(0, 6).map((r) => ({ float_input: r })));
      rs.forEach((r, i) => assert(r.outputs['output_label'] === species[g.predicted[i]!] && r.label === species[g.predicted[i]!], `row ${i}: ${String(r.outputs['output_label'])} / ${r.label}`));
      // The config still decides: no post-processing asked, none done; the map output cannot be configured.
      const plain = await engine.models.load({ source: modelPath('iris-zipmap'), name: 'iris-plain', config: { outputs: { probability_tensor: { postprocess: 'none' } } } });
      const [p0] = await plain.predict([{ float_input: g.rows[0]! }]);
      assert(p0!.prediction === undefined && Array.isArray(p0!.outputs['probability_tensor']), `plain ${JSON.stringify(p0)}`);
      await expectError('INVALID_CONFIG', () => engine.models.load({ source: modelPath('iris-zipmap'), name: 'iris2', config: { outputs: { output_probability: { postprocess: 'softmax' } } } }));
    } finally {
      if (engine !== e) await engine.close();
    }
  }));

  test(`${label}: a string (categorical) input: records and BYTES tensors match scikit-learn`, () => withEngine(async (e) => {
    const g = json('goldens/wine-categorical.json') as {
      records: FeatureRecord[]; labels: number[]; outputs: { logits: { data: number[] } };
    };
    if (target.backend === 'web-webgpu') {
      // onnxruntime-web's WebGPU-only build (`onnxruntime-web/webgpu`, what Deno loads) has no
      // ai.onnx.ml operators: pinned, the load fails with the operator named; asked for by
      // `auto`, the model goes to the next backend. The JSEP build a page loads
      // (`onnxruntime-web`) runs those operators on its CPU kernels: pinned, it must answer
      // the goldens.
      let pinned: Model | undefined;
      try {
        pinned = await e.models.load({ source: modelPath('wine-categorical') });
      } catch (err) {
        assert(isOmniserveError(err, 'INVALID_MODEL') && /OneHotEncoder/.test(err.message), `pinned load: ${String(err)}`);
      }
      if (pinned) {
        assert(pinned.backend.id === 'web-webgpu', `pinned model on ${pinned.backend.id}`);
        const res = await pinned.predict(g.records);
        res.forEach((r, i) => assertClose(r.outputs['logits'] as number[], g.outputs.logits.data.slice(i * 3, i * 3 + 3), `pinned row ${i}`));
        return;
      }
      const web = webOnly();
      try {
        const m = await web.models.load({ source: modelPath('wine-categorical') });
        assert(m.backend.id === 'web-wasm', `fell back to ${m.backend.id}`);
        const skipped = m.metadata.skippedBackends ?? [];
        assert(skipped.length === 1 && skipped[0]!.backend === 'web-webgpu' && /OneHotEncoder/.test(skipped[0]!.reason), `skipped: ${JSON.stringify(skipped)}`);
        const res = await m.predict(g.records);
        res.forEach((r, i) => assertClose(r.outputs['logits'] as number[], g.outputs.logits.data.slice(i * 3, i * 3 + 3), `fallback row ${i}`));
        // A model the WebGPU build runs stays there, with nothing skipped.
        const bc = await web.models.load({ source: modelPath('breast-cancer') });
        assert(bc.backend.id === 'web-webgpu' && bc.metadata.skippedBackends === undefined, `breast-cancer on ${bc.backend.id}`);
      } finally {
        await web.close();
      }
      return;
    }
    const model = await e.models.load({ source: modelPath('wine-categorical') });
    assert(model.metadata.inputs.find((i) => i.name === 'color_band')?.dtype === 'string', 'color_band is a string input');
    const res = await model.predict(g.records);
    res.forEach((r, i) => assertClose(r.outputs['logits'] as number[], g.outputs.logits.data.slice(i * 3, i * 3 + 3), `row ${i} (${String(g.records[i]!['color_band'])})`));
    const correct = res.filter((r, i) => r.prediction === g.labels[i]).length;
    assert(correct / res.length >= 0.9, `accuracy ${correct}/${res.length}`);
    // The same rows as tensors: numeric float32 and color_band as strings.
    const names = ['alcohol', 'malic_acid', 'flavanoids', 'proline', 'hue'];
    const out = await model.infer({
      numeric: tensorFromNumbers('float32', g.records.flatMap((r) => names.map((n) => r[n] as number)), [g.records.length, 5]),
      color_band: tensorFromNumbers('string', g.records.map((r) => r['color_band'] as string), [g.records.length, 1]),
    });
    assertClose(out['logits']!.data as Float32Array, g.outputs.logits.data, 'logits from tensors');
    // A number where the store parsed one: its text, here a band the model never saw (as row 4's "purple").
    const [asNumber] = await model.predict([{ ...g.records[4]!, color_band: 7 }]);
    assertClose(asNumber!.outputs['logits'] as number[], g.outputs.logits.data.slice(12, 15), 'a number as the band');
    await expectError('INVALID_FEATURE_TYPE', () => model.predict([{ ...g.records[0]!, color_band: true }]));
    await expectError('INVALID_FEATURE_TYPE', () => model.predict([{ ...g.records[0]!, color_band: { pale: 1 } }]));
    const { color_band: _drop, ...missing } = g.records[0]!;
    await expectError('MISSING_FEATURE', () => model.predict([missing]));
    const numeric = tensorFromNumbers('float32', names.map((n) => g.records[0]![n] as number), [1, 5]);
    await expectError('DTYPE_MISMATCH', () => model.infer({ numeric, color_band: tensorFromNumbers('float32', [1], [1, 1]) }));
    await expectError('INVALID_FEATURE_TYPE', () => model.infer({ numeric, color_band: { dtype: 'string', data: [3 as unknown as string], dims: [1, 1] } }));
    await expectError('INVALID_FEATURE_TYPE', async () => tensorFromNumbers('string', [3], [1, 1], 'color_band'));
    assertClose((await model.predict([g.records[0]!]))[0]!.outputs['logits'] as number[], g.outputs.logits.data.slice(0, 3), 'still works after bad input');
  }));

  test(`${label}: batches larger than maxBatchSize are split and stay in order`, () => withEngine(async (e) => {
    const g = golden('breast-cancer');
    const model = await e.models.load({
      source: modelPath('breast-cancer'),
      config: { ...json<Record<string, unknown>>('models/breast-cancer.config.json'), maxBatchSize: 7 },
    });
    const res = await model.predict(g.records);
    assertClose(res.map((r) => r.outputs['logit'] as number), g.outputs['logit']!.data, 'split batches');
  }));

  test(`${label}: versions, default version and reload`, () => withEngine(async (e) => {
    const bytes = fx.bytes('models/breast-cancer.onnx').slice();
    await e.models.load({ source: bytes, name: 'bc', version: '1' });
    await e.models.load({ source: modelPath('breast-cancer'), name: 'bc', version: '2' });
    assert(e.models.get('bc').version === '2', 'latest loaded is default');
    e.models.setDefault('bc', '1');
    assert(e.models.get('bc').version === '1', 'pinned default');
    const old = e.models.get('bc', '2');
    await e.models.load({ source: bytes, name: 'bc', version: '2' });
    assert(e.models.get('bc', '2') !== old, 'reload swapped the session');
    await expectError('MODEL_NOT_FOUND', () => old.predict(golden('breast-cancer').records));
    await expectError('MODEL_NOT_FOUND', async () => e.models.get('bc', '9'));
    await expectError('MODEL_NOT_FOUND', async () => e.models.get('nope'));
  }));

  test(`${label}: bad input gets named errors and nothing breaks`, () => withEngine(async (e) => {
    await expectError('MODEL_FILE_NOT_FOUND', () => e.models.load({ source: fx.source('models/does-not-exist.onnx') }));
    await expectError('INVALID_MODEL', () => e.models.load({ source: new TextEncoder().encode('this is not an onnx model'), name: 'junk' }));
    await expectError('INVALID_MODEL', () => e.models.load({ source: new Uint8Array(0), name: 'empty' }));
    const truncated = fx.bytes('models/digits.onnx').slice(0, 4000);
    await expectError('INVALID_MODEL', () => e.models.load({ source: truncated, name: 'truncated' }));
    await expectError('INVALID_CONFIG', () => e.models.load({ source: modelPath('breast-cancer'), config: { inputs: { nope: { features: ['a'] } } } }));

    const g = golden('wine-mixed');
    const model = await e.models.load({ source: modelPath('wine-mixed') });
    const feeds = feedsOf(g);
    await expectError('UNKNOWN_INPUT', () => model.infer({ ...feeds, extra: feeds['numeric']! }));
    await expectError('MISSING_INPUT', () => model.infer({ numeric: feeds['numeric']! }));
    await expectError('DTYPE_MISMATCH', () => model.infer({ ...feeds, buckets: tensorFromNumbers('float32', g.inputs['buckets']!.data, [32, 3]) }));
    await expectError('SHAPE_MISMATCH', () => model.infer({ ...feeds, numeric: tensorFromNumbers('float32', new Array(32 * 12).fill(1), [32, 12]) }));
    await expectError('SHAPE_MISMATCH', async () => tensorFromNumbers('float32', [1, 2, 3], [1, 13], 'numeric'));
    const nan = Float32Array.from(feeds['numeric']!.data as Float32Array);
    nan[7] = Number.NaN;
    await expectError('INVALID_FEATURE_VALUE', () => model.infer({ ...feeds, numeric: { dtype: 'float32', data: nan, dims: [32, 13] } }));
    await expectError('EMPTY_BATCH', () => model.predict([]));
    await expectError('EMPTY_BATCH', () => model.infer({ numeric: { dtype: 'float32', data: new Float32Array(0), dims: [0, 13] }, buckets: { dtype: 'int64', data: new BigInt64Array(0), dims: [0, 3] } }));

    const rec = g.records[0]!;
    const { alcohol: _drop, ...missing } = rec;
    await expectError('MISSING_FEATURE', () => model.predict([rec, missing]));
    await expectError('INVALID_FEATURE_TYPE', () => model.predict([{ ...rec, hue: 'blue' }]));
    await expectError('INVALID_FEATURE_TYPE', () => model.predict([{ ...rec, alcohol_bucket: 2.5 }]));
    await expectError('INVALID_FEATURE_VALUE', () => model.predict([{ ...rec, hue: Number.NaN }]));
    await expectError('INVALID_REQUEST', () => model.predict([null as unknown as FeatureRecord]));
    const digits = await e.models.load({ source: modelPath('digits') });
    await expectError('SHAPE_MISMATCH', () => digits.predict([{ image: [1, 2, 3] }]));
    await expectError('INVALID_FEATURE_TYPE', () => digits.predict([{ image: 'pixels' }]));

    // Numeric strings and booleans are coerced, the rest of the work goes on.
    const coerced = await model.predict([{ ...rec, hue: String(rec['hue']) }]);
    const plain = await model.predict([rec]);
    assertClose(coerced[0]!.outputs['logits'] as number[], plain[0]!.outputs['logits'] as number[], 'coerced');
    const out = await model.infer(feeds);
    assertClose(out['logits']!.data as Float32Array, g.outputs['logits']!.data, 'still works after bad input');
  }));
}
