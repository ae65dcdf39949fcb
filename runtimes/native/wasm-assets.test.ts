// The WASM asset table matches what onnxruntime-web ships, and a copy of the assets is
// enough for onnxruntime-web to run from (no node_modules, no CDN).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { allWasmAssets } from '../../wasm/assets.ts';
import { createWebBackends } from '../../src/backends/web.ts';
import { copyWasmAssets, resolveWasmAsset } from './wasm-assets.ts';

test('every listed asset exists in onnxruntime-web', () => {
  for (const name of allWasmAssets()) {
    const p = resolveWasmAsset(name);
    assert.ok(existsSync(p), `${name} at ${p}`);
    if (name.endsWith('.wasm')) assert.ok(statSync(p).size > 1_000_000, `${name} is a real binary`);
  }
  assert.throws(() => resolveWasmAsset('nope.wasm'), /unknown onnxruntime-web asset/);
});

test('onnxruntime-web runs from a copied asset folder', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'omniserve-wasm-'));
  try {
    const written = await copyWasmAssets(dir, ['wasm']);
    assert.equal(written.length, 2);
    const [, wasmBackend] = createWebBackends({ wasm: { wasmPaths: `${pathToFileURL(dir).href}/` } });
    const info = await wasmBackend!.probe();
    assert.equal(info.version, '1.30.0');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
