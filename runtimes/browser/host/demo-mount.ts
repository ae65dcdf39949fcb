/**
 * Host side (Node, Bun, Deno): the files behind `omniserve serve --demo`'s `/demo/` route.
 *
 *   /demo/                      the page (runtimes/browser/demo/index.html)
 *   /demo/lib/<file>            the client bundle, built in memory at start (host/build.ts)
 *   /demo/lib/ort/<asset>       onnxruntime-web's .mjs/.wasm, read from node_modules
 *                               (wasm/assets.ts lists them; runtimes/native/wasm-assets.ts finds them)
 *   /demo/models/digits.*       the digits model, its config and the sample digits (models/)
 *
 * The page is served cross-origin isolated (COOP/COEP) unless `isolated: false`, so WASM
 * may use threads. Model files carry `Repr-Digest` (RFC 9530) so the client checks its
 * download against the server's SHA-256.
 * @module
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { allWasmAssets } from '../../../wasm/assets.ts';
import { resolveWasmAsset } from '../../native/wasm-assets.ts';
import { buildBrowser, ROOT, type BuiltFile } from './build.ts';

/** What the app's `/demo/*` route calls: the response for a path under `/demo/`, or undefined (404). */
export interface DemoMount {
  get(path: string): Promise<Response | undefined>;
}

/** The digits model the demo runs (a copy of test/fixtures/models/digits.onnx; a test keeps them equal). */
export const DEMO_MODEL = join(ROOT, 'models/digits.onnx');
const DEMO_FILES: Readonly<Record<string, string>> = Object.freeze({
  'models/digits.onnx': DEMO_MODEL,
  'models/digits.config.json': join(ROOT, 'models/digits.config.json'),
  'models/digits.sample.jsonl': join(ROOT, 'models/digits.sample.jsonl'),
});

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', mjs: 'text/javascript; charset=utf-8',
  wasm: 'application/wasm', json: 'application/json', jsonl: 'application/x-ndjson', onnx: 'application/octet-stream',
};
const typeOf = (path: string) => TYPES[path.slice(path.lastIndexOf('.') + 1)] ?? 'application/octet-stream';

/** Options of {@link createDemoMount}. */
export interface DemoMountOptions {
  /** Send COOP/COEP so the page is cross-origin isolated (WASM threads). Default true. */
  readonly isolated?: boolean;
  /** Prebuilt files (tests); default: built now, in memory. */
  readonly files?: readonly BuiltFile[];
}

/** Builds the client bundle and returns the mount. */
export async function createDemoMount(o: DemoMountOptions = {}): Promise<DemoMount> {
  const built = new Map((o.files ?? (await buildBrowser())).map((f) => [f.path, f.bytes]));
  const page = await readFile(join(ROOT, 'runtimes/browser/demo/index.html'));
  const assets = new Set(allWasmAssets());
  const isolation: Record<string, string> = o.isolated === false ? {} : {
    'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp',
  };
  const reply = (bytes: Uint8Array, path: string, extra: Record<string, string> = {}) =>
    new Response(bytes as Uint8Array<ArrayBuffer>, {
      headers: { 'content-type': typeOf(path), 'cross-origin-resource-policy': 'same-origin', ...isolation, ...extra },
    });
  return {
    async get(path) {
      if (path === '' || path === 'index.html') return reply(page, 'index.html', { 'cache-control': 'no-cache' });
      if (path.startsWith('lib/ort/')) {
        const name = path.slice('lib/ort/'.length);
        if (!assets.has(name)) return undefined;
        return reply(await readFile(resolveWasmAsset(name)), name, { 'cache-control': 'public, max-age=3600' });
      }
      if (path.startsWith('lib/')) {
        const bytes = built.get(path.slice('lib/'.length));
        return bytes ? reply(bytes, path, { 'cache-control': 'no-cache' }) : undefined;
      }
      const file = DEMO_FILES[path];
      if (!file) return undefined;
      const bytes = await readFile(file);
      const digest: Record<string, string> = path.endsWith('.onnx') ? { 'repr-digest': `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:` } : {};
      return reply(bytes, path, { 'cache-control': 'no-cache', ...digest });
    },
  };
}

/** `cfg` with the demo's digits model added (unless a model named `digits` is already served). */
export function withDemoModel<C extends { models: readonly { name?: string; path: string }[] }>(cfg: C): C {
  const served = cfg.models.some((m) => m.name === 'digits' || (m.name === undefined && /(^|[\\/])digits\.onnx$/.test(m.path)));
  return served ? cfg : { ...cfg, models: [...cfg.models, { path: DEMO_MODEL }] };
}
