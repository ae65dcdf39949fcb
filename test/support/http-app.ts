/**
 * Shared by the in-process HTTP app tests (src/http/app*.test.ts): fixtures, a request
 * helper over `app.request`, error assertions, promtool, and the server harness.
 * @module
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer, type BuiltServer } from '../../runtimes/serve/build-server.ts';
import { createNativeRuntime } from '../../runtimes/native/runtime.ts';
import { parseServerConfig } from '../../src/config/schema.ts';
import { BC_MODEL, bc, bcConfig, ITEM_FEATURES, pick, USER_FEATURES, WINE_MODEL } from './golden.ts';

export * from './golden.ts';

export type { BuiltServer };

export function close(got: unknown, want: number, what: string): void {
  assert.ok(typeof got === 'number' && Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${what}: got ${String(got)}, expected ${want}`);
}

// Answers are checked field by field, so `any` keeps the assertions short.
export type Json = Record<string, any>;
export interface Answer { status: number; headers: Headers; json: Json; text: string }

export async function call(s: BuiltServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await s.app.request(`http://localhost${path}`, init);
  const text = await res.text();
  let json: Json = {};
  try {
    json = JSON.parse(text) as Json;
  } catch {
    // not JSON (metrics, docs)
  }
  return { status: res.status, headers: res.headers, json, text };
}
/** Rows and runs so far in `model`'s batch-size histogram (`/metrics`): how requests were coalesced. */
export async function batchSizeSeries(s: BuiltServer, model: string): Promise<{ rows: number; runs: number }> {
  const m = (await get(s, '/metrics')).text;
  const v = (name: string) => Number(m.split('\n').find((l) => l.startsWith(`${name}{model="${model}"} `))?.split(' ').pop() ?? 0);
  return { rows: v('omniserve_batch_size_rows_sum'), runs: v('omniserve_batch_size_rows_count') };
}

/**
 * Steady traffic for reload tests: `clients` loops, each sending row `i` (its own stride of
 * the row numbers) through `send` and handing every answer to `check`, until `stop()`, which
 * resolves with the statuses, the `model_version`s answered and the count sent.
 */
export function steadyTraffic(send: (i: number) => Promise<Answer>, check: (a: Answer, i: number) => void, clients = 8) {
  const statuses = new Map<number, number>();
  const versions = new Set<string>();
  let sent = 0;
  let stopped = false;
  const loops = Array.from({ length: clients }, async (_, k) => {
    for (let i = k; !stopped; i += clients) {
      const a = await send(i);
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      if (a.status === 200) versions.add(a.json['model_version']);
      check(a, i);
      sent++;
    }
  });
  return {
    async stop(): Promise<{ statuses: Map<number, number>; versions: Set<string>; sent: number }> {
      stopped = true;
      await Promise.all(loops);
      return { statuses, versions, sent };
    },
  };
}

export const post = (s: BuiltServer, path: string, body: unknown, headers?: Record<string, string>) => call(s, 'POST', path, body, headers);
export const get = (s: BuiltServer, path: string, headers?: Record<string, string>) => call(s, 'GET', path, undefined, headers);

export function assertError(a: Answer, status: number, code: string): void {
  assert.equal(a.status, status, a.text);
  assert.equal(a.json['code'], code, a.text);
  assert.equal(typeof a.json['error'], 'string', a.text);
  assert.doesNotMatch(a.text, /\n\s+at |\.ts:\d+/, 'no stack trace');
}

/**
 * Registers the suite's set-up in the calling test file: a temp dir holding `features.json`
 * (`user:{i}` = the first 20 features of golden row i, `item:{i}` the other 10,
 * `user:stale-{i}` = row i with a wrong mean_radius that a request's context corrects), and
 * closes every server built through `server()` afterwards.
 */
export function appHarness(): { server(cfg: Record<string, unknown>): Promise<BuiltServer> } {
  let tmp = '';
  const servers: BuiltServer[] = [];
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'omniserve-app-'));
    const rows: Record<string, Record<string, number>> = {};
    bc.records.forEach((r, i) => {
      rows[`user:${i}`] = pick(r, USER_FEATURES);
      rows[`item:${i}`] = pick(r, ITEM_FEATURES);
      rows[`user:stale-${i}`] = { ...pick(r, USER_FEATURES), mean_radius: 99 };
    });
    writeFileSync(join(tmp, 'features.json'), JSON.stringify(rows));
  });
  after(async () => {
    for (const s of servers.splice(0)) await s.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  return {
    async server(cfg) {
      const s = await buildServer(parseServerConfig(cfg, 'test config'), createNativeRuntime(), tmp);
      servers.push(s);
      return s;
    },
  };
}

export const T = { timeout: 30_000 };
export const v2Config = { ...bcConfig, version: '2', outputs: { logit: { postprocess: 'sigmoid', threshold: 0.5, labels: ['M', 'B'] } } };
export const mainConfig = {
  models: [
    { path: BC_MODEL, version: '1', default: true },
    { path: BC_MODEL, version: '2', config: v2Config },
    { path: BC_MODEL, name: 'cancer', version: '7' },
    { path: WINE_MODEL },
  ],
  featureStore: { kind: 'memory', path: 'features.json' },
  cache: { kind: 'memory' },
};

/** `METHOD /path/{param}` for every route the app registered (middleware left out). */
export function servedRoutes(s: BuiltServer): Set<string> {
  return new Set(s.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`));
}

/** Runs Debian's promtool on a scrape. */
export function promtool(text: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new Error('promtool is not installed: install the Debian package `prometheus` (apt-get install prometheus)') : e));
    child.once('close', (code) => resolve({ code, out }));
    child.stdin.on('error', () => {});
    child.stdin.end(text);
  });
}
