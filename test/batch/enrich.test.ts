// Enrichment from the feature store by a key column, in bulk: a feature the input lacks is
// looked up per row (real Redis; and a file-backed memory store), predictions match
// Model.predict on the full records, and a missing entity fails its unit naming the key.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import { join } from 'node:path';
import { createEngine, type Engine, type Model } from '../../src/index.ts';
import { parseBatchConfig } from '../../src/batch/config.ts';
import { runBatch, type BatchRunOptions } from '../../src/batch/run.ts';
import { featureInput } from '../../src/batch/score.ts';
import { UnitRunner } from '../../src/batch/unit.ts';
import { nodeBatchHost } from '../../runtimes/native/batch-io.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { createRedisFeatureStore, type RedisFeatureStore } from '../../runtimes/native/redis-store.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { MODEL, MODEL_CONFIG, RECORDS, readOutput, tempDir, writeInput } from './fixtures.ts';

let redis: RedisServer;
let store: RedisFeatureStore;
let engine: Engine;
let model: Model;
const dirs: string[] = [];
const host = nodeBatchHost();
before(async () => {
  redis = await startRedis();
  store = createRedisFeatureStore({ url: redis.url });
  engine = createEngine(createNativeRuntime());
  model = await engine.models.load({ source: MODEL, config: MODEL_CONFIG, backend: 'cpu' });
});
after(async () => {
  await store.close();
  await engine.close();
  await redis.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function options(dir: string, enrich: Record<string, unknown>): BatchRunOptions {
  const fi = featureInput(model);
  return {
    inputs: [join(dir, 'in/a.parquet')], outDir: join(dir, 'out'),
    config: parseBatchConfig({ model: { path: MODEL }, unitRows: 100, enrich: { keyColumn: 'id', fields: ['worst_area'], chunk: 64, ...enrich } }),
    model: { name: model.name, version: model.version, features: fi.features }, newRunId: () => 'run-enrich',
    executor: async (s) => { const r = new UnitRunner(model, fi, host, s); return { capacity: 2, run: (u) => r.run(u), close: () => r.close() }; },
  };
}

test('enrich from Redis and from a memory store: a missing input feature comes from the store, row by row', async () => {
  const ids = RECORDS.map((_, i) => i);
  await store.setMany(ids.map((i) => [`user:${i}`, { worst_area: RECORDS[i]!['worst_area']!, other: 'x' }] as const));
  const expected = await model.predict(RECORDS);
  const fileDir = tempDir(); dirs.push(fileDir);
  writeFileSync(join(fileDir, 'users.jsonl'), ids.map((i) => JSON.stringify({ id: i, worst_area: RECORDS[i]!['worst_area'] })).join('\n'));
  for (const storeSpec of [{ kind: 'redis', url: redis.url }, { kind: 'memory', path: join(fileDir, 'users.jsonl') }]) {
    const dir = tempDir(); dirs.push(dir);
    writeInput(join(dir, 'in/a.parquet'), ids, { drop: 'worst_area', rowGroupSize: 100 });
    const s = await runBatch(options(dir, { store: storeSpec }), host);
    assert.equal(s.status, 'committed', `${storeSpec.kind}: ${JSON.stringify(s.manifest?.failedUnits)}`);
    const rows = await readOutput(join(dir, 'out'));
    assert.equal(rows.length, RECORDS.length);
    for (const r of rows) {
      const i = Number(r['id']);
      assert.equal(r['worst_area'], RECORDS[i]!['worst_area'], `${storeSpec.kind}: enriched column written`);
      assert.equal(r['prediction'], expected[i]!.prediction, `${storeSpec.kind}: row ${i} prediction`);
      assert.ok(Math.abs((r['probability'] as number) - expected[i]!.probability!) < 1e-6);
    }
  }
});

test('enrich: an entity missing from the store fails its unit and names the key', async () => {
  const dir = tempDir(); dirs.push(dir);
  await store.setMany([[`miss:1`, { worst_area: 1 }]]);
  writeInput(join(dir, 'in/a.parquet'), [1, 2], { drop: 'worst_area' });
  const s = await runBatch(options(dir, { store: { kind: 'redis', url: redis.url }, prefix: 'miss' }), host);
  assert.equal(s.status, 'failed');
  assert.match(s.manifest!.failedUnits[0]!.message, /row 1: column "worst_area" is null \(the feature store has no "worst_area" for miss:2\)/);
});

test('enrich a string input: the colour band of wine-categorical comes from Redis as a string column', async () => {
  const root = join(import.meta.dirname, '../..');
  const config = JSON.parse(readFileSync(join(root, 'test/fixtures/models/wine-categorical.config.json'), 'utf8')) as unknown;
  const m = await engine.models.load({ source: join(root, 'test/fixtures/models/wine-categorical.onnx'), config, backend: 'cpu' });
  const records = (JSON.parse(readFileSync(join(root, 'test/fixtures/goldens/wine-categorical.json'), 'utf8')) as { records: Record<string, number | string>[] }).records;
  const fi = featureInput(m);
  await store.setMany(records.map((r, i) => [`band:${i}`, { color_band: r['color_band'] as string }] as const));
  const dir = tempDir(); dirs.push(dir);
  const cols: ColumnSource[] = [{ name: 'id', data: BigInt64Array.from(records, (_, i) => BigInt(i)) }];
  for (const f of fi.inputs[0]!.features) cols.push({ name: f, data: Float64Array.from(records, (r) => r[f] as number) });
  mkdirSync(join(dir, 'in'), { recursive: true });
  writeFileSync(join(dir, 'in/a.parquet'), new Uint8Array(parquetWriteBuffer({ columnData: cols, rowGroupSize: 10 })));
  const s = await runBatch({
    inputs: [join(dir, 'in/a.parquet')], outDir: join(dir, 'out'),
    config: parseBatchConfig({ model: { path: MODEL }, unitRows: 10, enrich: { store: { kind: 'redis', url: redis.url }, keyColumn: 'id', prefix: 'band', fields: ['color_band'], chunk: 8 } }),
    model: { name: m.name, version: m.version, features: fi.features }, newRunId: () => 'run-enrich-band',
    executor: async (st) => { const r = new UnitRunner(m, fi, host, st); return { capacity: 1, run: (u) => r.run(u), close: () => r.close() }; },
  }, host);
  assert.equal(s.status, 'committed', JSON.stringify(s.manifest?.failedUnits));
  const want = await m.predict(records);
  const rows = await readOutput(join(dir, 'out'));
  assert.equal(rows.length, records.length);
  for (const r of rows) {
    const i = Number(r['id']);
    assert.equal(r['color_band'], records[i]!['color_band'], 'the enriched string column is written');
    assert.equal(r['prediction'], want[i]!.prediction, `row ${i}`);
    assert.ok(Math.abs((r['probability'] as number) - want[i]!.probability!) < 1e-9, `row ${i}`);
  }
});
