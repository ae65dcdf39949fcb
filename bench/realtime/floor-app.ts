/**
 * The hand-written floor of bench/realtime: the job omniserve's default `POST /predict` does,
 * written out by hand in one Hono route with nothing else, on the same listener as hello.ts
 * and `omniserve serve`. It answers how much of omniserve's gap to hello-world is the job
 * itself (two Redis hashes, a model run, the seed-compatible reply) and how much is omniserve.
 *
 * Per request: `c.req.json()`; user_id and item_id checked to be integers or strings (422 otherwise);
 * `user:{id}` and `item:{id}` read through omniserve's own Redis reader
 * (runtimes/native/redis-store.ts: concurrent lookups coalesced into one pipelined round
 * trip; the fastest client measured on every host, see docs/design.md), so the floor's Redis
 * cost is the best omniserve has; the 30 features taken in the model's order (an unknown id
 * is a 404 and a missing feature a 422, as in omniserve without defaults); the rows of one
 * event-loop turn run as one onnxruntime-node batch (one run at a time, as omniserve's
 * `maxDelayMs: 0`); sigmoid; the reply shaped as omniserve's, with the same `features_used`.
 *
 * What it leaves out is what omniserve adds: valibot validation of every field, the
 * context and defaults merge, named errors, metrics, deadlines, the bounded queue, model
 * versions, config, and every other route. A production server needs them; the floor
 * measures what they cost.
 *
 * floor.ts serves it; bench/realtime/in-process.ts measures it without sockets (`--floor`).
 * @module
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import * as ort from 'onnxruntime-node';
import { createRedisFeatureStore } from '../../runtimes/native/redis-store.ts';

const models = new URL('../../test/fixtures/models/', import.meta.url);
const FEATURES: string[] = JSON.parse(readFileSync(new URL('breast-cancer.config.json', models), 'utf8')).inputs.features.features;
const WIDTH = FEATURES.length;
const ALL_USED = JSON.stringify(FEATURES);

/** The floor's app, its model session and Redis reader; `close` frees both. */
export async function createFloorApp(o: { readonly redis: string }): Promise<{ app: Hono; close(): Promise<void> }> {
  const session = await ort.InferenceSession.create(fileURLToPath(new URL('breast-cancer.onnx', models)), { graphOptimizationLevel: 'all' });
  const store = createRedisFeatureStore({ url: o.redis });

  interface Job { readonly row: Float32Array; readonly resolve: (logit: number) => void; readonly reject: (e: unknown) => void }
  let queue: Job[] = [];
  let scheduled = false;
  let running = false;

  /** Runs every queued row as one batch; rows that arrive meanwhile wait for the next. */
  async function flush(): Promise<void> {
    scheduled = false;
    if (running || queue.length === 0) return;
    running = true;
    const jobs = queue;
    queue = [];
    try {
      const data = new Float32Array(jobs.length * WIDTH);
      for (let i = 0; i < jobs.length; i++) data.set(jobs[i]!.row, i * WIDTH);
      const out = await session.run({ features: new ort.Tensor('float32', data, [jobs.length, WIDTH]) });
      const logits = out.logit!.data as Float32Array;
      for (let i = 0; i < jobs.length; i++) jobs[i]!.resolve(logits[i]!);
    } catch (e) {
      for (const j of jobs) j.reject(e);
    } finally {
      running = false;
      if (queue.length > 0) void flush();
    }
  }

  function score(row: Float32Array): Promise<number> {
    return new Promise((resolve, reject) => {
      queue.push({ row, resolve, reject });
      if (!scheduled && !running) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  }

  type Hash = Record<string, string | number> | null;
  const value = (h: Hash, f: string): number | undefined => {
    const v = h?.[f];
    return v === undefined ? undefined : typeof v === 'number' ? v : Number(v);
  };

  /** An entity id as omniserve takes one: an integer or a string. */
  const isId = (v: unknown) => Number.isInteger(v) || (typeof v === 'string' && v !== '');

  const app = new Hono();
  app.post('/predict', async (c) => {
    const t0 = performance.now();
    const body = await c.req.json() as { user_id?: unknown; item_id?: unknown };
    if (!isId(body.user_id) || !isId(body.item_id)) return c.json({ error: { code: 'INVALID_REQUEST', message: 'user_id and item_id: integers or strings' } }, 422);
    const [user, item] = await store.getMany([`user:${body.user_id}`, `item:${body.item_id}`]) as Hash[];
    // As omniserve: an id not in the store is a 404, a feature missing (no defaults) a 422.
    if (user === null || item === null) return c.json({ error: { code: 'ENTITY_NOT_FOUND' } }, 404);
    const row = new Float32Array(WIDTH);
    for (let j = 0; j < WIDTH; j++) {
      const x = value(user!, FEATURES[j]!) ?? value(item!, FEATURES[j]!);
      if (x === undefined) return c.json({ error: { code: 'MISSING_FEATURE', details: { feature: FEATURES[j] } } }, 422);
      row[j] = x;
    }
    const logit = await score(row);
    const probability = 1 / (1 + Math.exp(-logit));
    const prediction = probability >= 0.5 ? 1 : 0;
    return c.body(`{"prediction":${prediction},"probability":${probability},"label":"${prediction ? 'benign' : 'malignant'}",` +
      `"model":"breast-cancer","model_version":"1","latency_ms":${Math.round((performance.now() - t0) * 1000) / 1000},` +
      `"cached":false,"features_used":${ALL_USED}}`, 200, { 'content-type': 'application/json' });
  });

  return {
    app,
    async close() {
      await store.close();
      await session.release();
    },
  };
}
