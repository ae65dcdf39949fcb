/**
 * The conformance suite: one set of cases run on every host × backend pair (Node, Bun and
 * Deno entry files register them with their own test runner). Outputs are checked against
 * goldens computed by torch, an independent reference; bad input must give named errors
 * and leave the engine working.
 * @module
 */
import { readFileSync } from 'node:fs';
import {
  createEngine, isOmniserveError, tensorFromNumbers,
  type BackendId, type DType, type Engine, type ErrorCode, type FeatureRecord, type RuntimeAdapter, type TensorData,
} from '../../src/index.ts';

/** Registers one test with the host's runner. */
export type RegisterTest = (name: string, fn: () => Promise<void>) => void;

/** What a host runs the suite against. */
export interface ConformanceTarget {
  readonly host: string;
  readonly backend: BackendId;
  readonly runtime: () => RuntimeAdapter;
}

const FIXTURES = new URL('../fixtures/', import.meta.url);
const MODELS = ['breast-cancer', 'digits', 'wine-mixed'] as const;
type Golden = {
  inputs: Record<string, { dtype: DType; dims: number[]; data: number[] }>;
  outputs: Record<string, { dtype: DType; dims: number[]; data: number[] }>;
  records: FeatureRecord[];
  labels: number[];
};

const fixturePath = (rel: string) => decodeURIComponent(new URL(rel, FIXTURES).pathname);
const golden = (m: string): Golden => JSON.parse(readFileSync(fixturePath(`goldens/${m}.json`), 'utf8'));
const modelPath = (m: string) => fixturePath(`models/${m}.onnx`);

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

/** Registers every conformance case for one host × backend. */
export function runConformance(test: RegisterTest, target: ConformanceTarget): void {
  const label = `${target.host} × ${target.backend}`;
  const fresh = () => createEngine(target.runtime(), { backend: target.backend });
  const withEngine = async (fn: (e: Engine) => Promise<void>) => {
    const e = fresh();
    try {
      await fn(e);
    } finally {
      await e.close();
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
        assertClose(typeof v === 'number' ? [v] : v, want.data.slice(i * per, (i + 1) * per), `${m} row ${i} ${outName}`);
        assert(r.prediction !== undefined && r.probability !== undefined, `row ${i}: prediction and probability`);
        assert(r.probability >= 0 && r.probability <= 1, `row ${i}: probability ${r.probability} in [0,1]`);
      });
      const correct = all.filter((r, i) => r.prediction === g.labels[i]).length;
      assert(correct / all.length >= 0.85, `${m}: accuracy ${correct}/${all.length} on golden rows`);
      const single = await model.predict([g.records[5]!]);
      assertClose(Object.values(single[0]!.outputs).flat(), Object.values(all[5]!.outputs).flat(), `${m} batch-1 vs batched`);
    }));
  }

  test(`${label}: batches larger than maxBatchSize are split and stay in order`, () => withEngine(async (e) => {
    const g = golden('breast-cancer');
    const model = await e.models.load({
      source: modelPath('breast-cancer'),
      config: { ...JSON.parse(readFileSync(fixturePath('models/breast-cancer.config.json'), 'utf8')), maxBatchSize: 7 },
    });
    const res = await model.predict(g.records);
    assertClose(res.map((r) => r.outputs['logit'] as number), g.outputs['logit']!.data, 'split batches');
  }));

  test(`${label}: versions, default version and reload`, () => withEngine(async (e) => {
    const bytes = new Uint8Array(readFileSync(modelPath('breast-cancer')));
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
    await expectError('MODEL_FILE_NOT_FOUND', () => e.models.load({ source: fixturePath('models/does-not-exist.onnx') }));
    await expectError('INVALID_MODEL', () => e.models.load({ source: new TextEncoder().encode('this is not an onnx model'), name: 'junk' }));
    await expectError('INVALID_MODEL', () => e.models.load({ source: new Uint8Array(0), name: 'empty' }));
    const truncated = new Uint8Array(readFileSync(modelPath('digits'))).slice(0, 4000);
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
