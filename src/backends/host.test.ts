// Host detection on fake global objects (and the real one), and the WebGPU adapter precheck.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectHost, requireWebGpuAdapter } from './host.ts';

const nodeProcess = { versions: { node: '22.11.0' }, release: { name: 'node' }, platform: 'linux', arch: 'x64' };

test('node: process.versions.node with release.name node', () => {
  const h = detectHost({ process: nodeProcess });
  assert.equal(h.name, 'node');
  assert.equal(h.version, '22.11.0');
  assert.equal(h.platform, 'linux');
  assert.equal(h.arch, 'x64');
  assert.equal(h.webgpu, false);
  assert.equal(detectHost({ process: { versions: { node: '22' }, release: { name: 'io.js' } } }).name, 'unknown',
    'a process look-alike that is not node');
});

test('bun: Bun.version wins over its node-compatible process', () => {
  const h = detectHost({ Bun: { version: '1.4.5' }, process: nodeProcess, navigator: { userAgent: 'Bun/1.4.5', hardwareConcurrency: 4 } });
  assert.equal(h.name, 'bun');
  assert.equal(h.version, '1.4.5');
  assert.equal(h.platform, 'linux');
  assert.equal(h.hardwareConcurrency, 4);
});

test('deno: Deno.version.deno wins over its process global; platform from Deno.build', () => {
  const h = detectHost({ Deno: { version: { deno: '2.9.6' }, build: { os: 'linux', arch: 'x86_64' } } });
  assert.equal(h.name, 'deno');
  assert.equal(h.version, '2.9.6');
  assert.equal(h.platform, 'linux');
  assert.equal(h.arch, 'x86_64');
  assert.equal(detectHost({ Deno: { version: { deno: '2.9.6' } }, process: nodeProcess }).name, 'deno');
});

test('workerd: navigator.userAgent is Cloudflare-Workers, even with nodejs_compat process', () => {
  assert.equal(detectHost({ navigator: { userAgent: 'Cloudflare-Workers' } }).name, 'workerd');
  assert.equal(detectHost({ navigator: { userAgent: 'Cloudflare-Workers' }, process: nodeProcess }).name, 'workerd');
  assert.equal(detectHost({ navigator: { userAgent: 'Mozilla/5.0' } }).name, 'unknown');
});

test('browser: window and document', () => {
  const h = detectHost({ window: {}, document: {}, navigator: { userAgent: 'Mozilla/5.0', hardwareConcurrency: 8 } });
  assert.equal(h.name, 'browser');
  assert.equal(h.version, undefined);
  assert.equal(h.platform, undefined);
  assert.equal(h.hardwareConcurrency, 8);
  assert.equal(detectHost({ document: {} }).name, 'unknown', 'document alone is not a browser');
});

test('web worker: importScripts or WorkerGlobalScope', () => {
  assert.equal(detectHost({ importScripts() {} }).name, 'web-worker');
  assert.equal(detectHost({ WorkerGlobalScope: class {} }).name, 'web-worker');
  assert.equal(detectHost({ importScripts: 'not a function' }).name, 'unknown');
});

test('nothing known: unknown', () => {
  const h = detectHost({});
  assert.equal(h.name, 'unknown');
  assert.equal(h.webgpu, false);
  assert.equal(h.wasmThreads, false);
  assert.equal(h.hardwareConcurrency, undefined);
});

test('webgpu: true exactly when navigator.gpu exists', () => {
  assert.equal(detectHost({ window: {}, document: {}, navigator: { gpu: {} } }).webgpu, true);
  assert.equal(detectHost({ Deno: { version: { deno: '2' } }, navigator: { gpu: { requestAdapter: async () => null } } }).webgpu, true);
  assert.equal(detectHost({ window: {}, document: {}, navigator: {} }).webgpu, false);
});

test('wasmThreads: SharedArrayBuffer and not cross-origin isolated = false', () => {
  assert.equal(detectHost({ SharedArrayBuffer }).wasmThreads, true);
  assert.equal(detectHost({ SharedArrayBuffer, crossOriginIsolated: true }).wasmThreads, true);
  assert.equal(detectHost({ SharedArrayBuffer, crossOriginIsolated: false }).wasmThreads, false);
});

test('extra facts are kept, and the result is frozen', () => {
  const extra = { nvidiaDevice: true };
  const h = detectHost({ process: nodeProcess }, extra);
  assert.deepEqual(h.extra, { nvidiaDevice: true });
  extra.nvidiaDevice = false;
  assert.equal(h.extra['nvidiaDevice'], true, 'extra is copied');
  assert.ok(Object.isFrozen(h));
  assert.ok(Object.isFrozen(h.extra));
});

test('the real globalThis of this test process is node', () => {
  const h = detectHost();
  assert.equal(h.name, 'node');
  assert.equal(h.version, process.versions.node);
  assert.equal(h.platform, process.platform);
  assert.equal(h.arch, process.arch);
});

test('requireWebGpuAdapter: no navigator.gpu throws', async () => {
  await assert.rejects(requireWebGpuAdapter({}), /navigator\.gpu is not available/);
  await assert.rejects(requireWebGpuAdapter({ navigator: { gpu: {} } }), /navigator\.gpu is not available/);
});

test('requireWebGpuAdapter: requestAdapter() giving null throws', async () => {
  let calls = 0;
  const g = { navigator: { gpu: { requestAdapter: async () => { calls++; return null; } } } };
  await assert.rejects(requireWebGpuAdapter(g), /requestAdapter\(\) returned no adapter/);
  assert.equal(calls, 1);
});

test('requireWebGpuAdapter: an adapter with info gives its description', async () => {
  const info = { vendor: 'mesa', architecture: 'llvmpipe', description: 'LLVM 15', isFallbackAdapter: true };
  const g = { navigator: { gpu: { requestAdapter: async () => ({ info }) } } };
  assert.deepEqual(await requireWebGpuAdapter(g), { adapter: 'mesa llvmpipe LLVM 15', fallbackAdapter: true });
  const bare = { navigator: { gpu: { requestAdapter: async () => ({ info: { vendor: '', description: '' } }) } } };
  assert.deepEqual(await requireWebGpuAdapter(bare), { adapter: 'unknown adapter', fallbackAdapter: false });
  const noInfo = { navigator: { gpu: { requestAdapter: async () => ({}) } } };
  assert.deepEqual(await requireWebGpuAdapter(noInfo), { adapter: 'unknown adapter', fallbackAdapter: false });
});

test('requireWebGpuAdapter calls requestAdapter on navigator.gpu (this binding)', async () => {
  const gpu = {
    name: 'gpu',
    async requestAdapter(this: { name: string }) {
      return { info: { vendor: this.name } };
    },
  };
  assert.equal((await requireWebGpuAdapter({ navigator: { gpu } })).adapter, 'gpu');
});
