/**
 * The client side of bench/async: submits jobs (`POST /predict/async`) with a bounded number
 * in flight over keep-alive connections, waits until the Redis stream is empty, then reads
 * every job back (`GET /predict/{id}`) for its status and timestamps.
 *
 * Every time here is wall-clock milliseconds (`Date.now()`), the clock the server
 * (`created_at`) and the workers (`updated_at`) stamp jobs with: all run on this machine.
 * @module
 */
import { Agent, request } from 'node:http';
import { Redis } from 'ioredis';

/** Random ids over the seeded range, as bench/realtime/post.lua draws them. */
export const randomBody = (users: number, items: number) =>
  `{"user_id":${Math.floor(Math.random() * users)},"item_id":${Math.floor(Math.random() * items)}}`;

/** One HTTP exchange on a shared keep-alive agent. */
function http(agent: Agent, base: URL, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      agent, host: base.hostname, port: base.port, method, path,
      headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs `n` tasks with at most `concurrency` at once. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, async () => {
    while (next < n) await task(next++);
  }));
}

/** What the submit phase did. */
export interface Submitted {
  /** request_id per job (undefined where the submit was refused). */
  readonly ids: (string | undefined)[];
  /** When each POST was sent (ms since epoch). */
  readonly sentAt: number[];
  /** First POST sent → last 202 received, ms. */
  readonly submitMs: number;
  /** Submits answered with anything but 202 (or not at all), with the first answer. */
  readonly refused: number;
  readonly firstRefusal?: string;
}

/** Submits `jobs` jobs, `concurrency` in flight. */
export async function submitJobs(baseUrl: string, jobs: number, concurrency: number, body: () => string): Promise<Submitted> {
  const base = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const ids: (string | undefined)[] = new Array(jobs);
  const sentAt: number[] = new Array(jobs);
  let refused = 0;
  let firstRefusal: string | undefined;
  const t0 = Date.now();
  try {
    await pool(jobs, concurrency, async (i) => {
      sentAt[i] = Date.now();
      try {
        const r = await http(agent, base, 'POST', '/predict/async', body());
        if (r.status === 202) ids[i] = (JSON.parse(r.text) as { request_id: string }).request_id;
        else {
          refused++;
          firstRefusal ??= `${r.status} ${r.text.slice(0, 200)}`;
        }
      } catch (e) {
        refused++;
        firstRefusal ??= (e as Error).message;
      }
    });
  } finally {
    agent.destroy();
  }
  return { ids, sentAt, submitMs: Date.now() - t0, refused, ...(firstRefusal ? { firstRefusal } : {}) };
}

/** Waits until the job stream is empty (every job finished: the finish script XDELs its entry); resolves with when that was seen. */
export async function waitDrained(redis: Redis, stream: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await redis.xlen(stream)) === 0) return Date.now();
    if (Date.now() > deadline) throw new Error(`${stream} still holds ${await redis.xlen(stream)} jobs after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One job as read back. */
export interface JobTimes {
  readonly status: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly attempts: number;
  readonly probability?: number;
  readonly error?: string;
}

/** GET /predict/{id} for every job, `concurrency` at once. */
export async function readJobs(baseUrl: string, ids: readonly (string | undefined)[], concurrency: number): Promise<(JobTimes | undefined)[]> {
  const base = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const out: (JobTimes | undefined)[] = new Array(ids.length);
  try {
    await pool(ids.length, concurrency, async (i) => {
      const id = ids[i];
      if (id === undefined) return;
      const r = await http(agent, base, 'GET', `/predict/${id}`);
      if (r.status !== 200) {
        out[i] = { status: `http ${r.status}`, createdAt: Number.NaN, updatedAt: Number.NaN, attempts: 0, error: r.text.slice(0, 200) };
        return;
      }
      const j = JSON.parse(r.text) as { status: string; created_at: string; updated_at: string; attempts: number; result?: { probability?: number }; error?: { code: string; error: string } };
      out[i] = {
        status: j.status, createdAt: Date.parse(j.created_at), updatedAt: Date.parse(j.updated_at), attempts: j.attempts,
        ...(typeof j.result?.probability === 'number' ? { probability: j.result.probability } : {}),
        ...(j.error ? { error: `${j.error.code}: ${j.error.error}`.slice(0, 200) } : {}),
      };
    });
  } finally {
    agent.destroy();
  }
  return out;
}

/** Deletes every job record, idempotency key and the dead-letter stream, leaving the (empty) job stream and its group. */
export async function clearQueue(redis: Redis, prefix: string): Promise<number> {
  let n = 0;
  for (const pattern of [`${prefix}job:*`, `${prefix}idem:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) n += await redis.unlink(...keys);
    } while (cursor !== '0');
  }
  n += await redis.unlink(`${prefix}jobs:dead`);
  return n;
}
