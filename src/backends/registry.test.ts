// Backend registry logic with in-test Backend objects (no onnxruntime): priority order,
// probe-once, remembered failures, pinned errors, device aliases, request parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOmniserveError, type ErrorCode } from '../errors.ts';
import { BACKEND_REQUESTS, BackendRegistry, cleanReason, parseBackendRequest } from './registry.ts';
import { BACKEND_IDS, type Backend, type BackendId, type BackendProbeInfo } from './types.ts';

const ORT_WEBGPU_ERROR = '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(...)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n';

const SHAPE: Record<BackendId, Pick<Backend, 'package' | 'provider' | 'device'>> = {
  'native-cuda': { package: 'onnxruntime-node', provider: 'cuda', device: 'gpu' },
  'native-webgpu': { package: 'onnxruntime-node', provider: 'webgpu', device: 'gpu' },
  'native-cpu': { package: 'onnxruntime-node', provider: 'cpu', device: 'cpu' },
  'web-webgpu': { package: 'onnxruntime-web', provider: 'webgpu', device: 'gpu' },
  'web-wasm': { package: 'onnxruntime-web', provider: 'wasm', device: 'cpu' },
};

/** A stub backend: its probe succeeds, or throws `fail`; every probe call is logged. */
interface Stub extends Backend {
  probes: number;
}

function stub(id: BackendId, log: string[], fail?: string | Error, delayMs = 5): Stub {
  const b: Stub = {
    id,
    ...SHAPE[id],
    probes: 0,
    async probe(): Promise<BackendProbeInfo> {
      b.probes++;
      log.push(id);
      await new Promise((r) => setTimeout(r, delayMs));
      if (fail !== undefined) throw typeof fail === 'string' ? new Error(fail) : fail;
      return { version: `v-${id}` };
    },
    async createSession() {
      throw new Error('not used in registry tests');
    },
  };
  return b;
}

/** Builds a registry over stubs; `failing` maps ids to their probe failure reason. */
function setup(ids: readonly BackendId[], failing: Partial<Record<BackendId, string>> = {}) {
  const log: string[] = [];
  const stubs = ids.map((id) => stub(id, log, failing[id]));
  return { log, stubs, reg: new BackendRegistry(stubs) };
}

async function rejectsWith(code: ErrorCode, fn: () => Promise<unknown>): Promise<Error & { code: string; details?: Record<string, unknown> }> {
  try {
    await fn();
  } catch (e) {
    assert.ok(isOmniserveError(e), `expected OmniserveError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

test('auto takes the first backend in the order given that probes well, and probes no further', async () => {
  const { reg, log } = setup(['native-cuda', 'native-webgpu', 'native-cpu', 'web-webgpu', 'web-wasm'], {
    'native-cuda': 'no NVIDIA GPU',
    'native-webgpu': 'no adapter',
  });
  const b = await reg.resolve('auto');
  assert.equal(b.id, 'native-cpu');
  assert.deepEqual(log, ['native-cuda', 'native-webgpu', 'native-cpu']);
  const status = reg.status();
  assert.deepEqual(status.map((s) => [s.id, s.priority, s.state]), [
    ['native-cuda', 0, 'unavailable'],
    ['native-webgpu', 1, 'unavailable'],
    ['native-cpu', 2, 'available'],
    ['web-webgpu', 3, 'not-probed'],
    ['web-wasm', 4, 'not-probed'],
  ]);
  assert.deepEqual(status[2]!.info, { version: 'v-native-cpu' });
  assert.equal(typeof status[2]!.probeMs, 'number');
  assert.equal(status[3]!.probeMs, undefined);
});

test('priority is the order the host passes, not the canonical id order', async () => {
  const { reg } = setup(['web-wasm', 'native-cpu']);
  assert.deepEqual(reg.ids, ['web-wasm', 'native-cpu']);
  assert.equal((await reg.resolve()).id, 'web-wasm', 'resolve() defaults to auto');
  assert.equal(reg.status().find((s) => s.id === 'native-cpu')!.state, 'not-probed');
});

test('each backend is probed exactly once, even with concurrent resolve() and probeAll() calls', async () => {
  const { reg, stubs } = setup(['native-cuda', 'native-cpu', 'web-wasm'], { 'native-cuda': 'nope' });
  const picks = await Promise.all([
    reg.resolve('auto'), reg.resolve('auto'), reg.resolve('cpu'), reg.resolve('native-cpu'),
    reg.probeAll().then(() => reg.resolve('wasm')), reg.resolve('auto'),
  ]);
  assert.deepEqual(picks.map((b) => b.id), ['native-cpu', 'native-cpu', 'native-cpu', 'native-cpu', 'web-wasm', 'native-cpu']);
  await reg.probeAll();
  await reg.resolve('auto');
  assert.deepEqual(stubs.map((s) => [s.id, s.probes]), [['native-cuda', 1], ['native-cpu', 1], ['web-wasm', 1]]);
});

test('a failed probe is remembered with its reason and never retried', async () => {
  const { reg, stubs } = setup(['native-webgpu', 'native-cpu'], { 'native-webgpu': 'adapter refused' });
  await reg.resolve('auto');
  const row = reg.status().find((s) => s.id === 'native-webgpu')!;
  assert.equal(row.state, 'unavailable');
  assert.equal(row.reason, 'adapter refused');
  assert.equal(row.info, undefined);
  await rejectsWith('BACKEND_UNAVAILABLE', () => reg.resolve('native-webgpu'));
  await rejectsWith('BACKEND_UNAVAILABLE', () => reg.resolve('native-webgpu'));
  const again = await reg.probe('native-webgpu');
  assert.equal(again.ok, false);
  assert.equal(stubs[0]!.probes, 1);
});

test('a probe that throws a non-Error still records a reason', async () => {
  const log: string[] = [];
  const b = stub('web-wasm', log);
  b.probe = async () => {
    throw 'wasm file missing';
  };
  const reg = new BackendRegistry([b]);
  await rejectsWith('BACKEND_UNAVAILABLE', () => reg.resolve('auto'));
  assert.equal(reg.status()[0]!.reason, 'wasm file missing');
});

test('a pinned backend that fails gives BACKEND_UNAVAILABLE naming the reason, with no fallback', async () => {
  const { reg, log } = setup(['native-cuda', 'native-cpu'], { 'native-cuda': 'no NVIDIA GPU (no /dev/nvidiactl)' });
  const e = await rejectsWith('BACKEND_UNAVAILABLE', () => reg.resolve('native-cuda'));
  assert.match(e.message, /native-cuda/);
  assert.match(e.message, /no NVIDIA GPU \(no \/dev\/nvidiactl\)/);
  assert.deepEqual(e.details?.['failures'], ['native-cuda: no NVIDIA GPU (no /dev/nvidiactl)']);
  assert.deepEqual(log, ['native-cuda'], 'native-cpu must not be tried for a pinned request');
});

test('a pinned backend the host does not offer gives BACKEND_UNAVAILABLE naming what is offered', async () => {
  const { reg, log } = setup(['web-webgpu', 'web-wasm']);
  const e = await rejectsWith('BACKEND_UNAVAILABLE', () => reg.resolve('native-cpu'));
  assert.match(e.message, /"native-cpu" is not offered/);
  assert.match(e.message, /offered: web-webgpu, web-wasm/);
  assert.deepEqual(e.details?.['offered'], ['web-webgpu', 'web-wasm']);
  const alias = await rejectsWith('BACKEND_UNAVAILABLE', () => reg.resolve('cuda'));
  assert.match(alias.message, /offered: web-webgpu, web-wasm/);
  await rejectsWith('BACKEND_UNAVAILABLE', () => reg.probe('native-cuda'));
  assert.deepEqual(log, []);
});

test('auto with every backend failing lists every reason', async () => {
  const { reg } = setup(['native-cpu', 'web-wasm'], { 'native-cpu': 'addon missing', 'web-wasm': 'wasm missing' });
  const e = await rejectsWith('BACKEND_UNAVAILABLE', () => reg.resolve('auto'));
  assert.match(e.message, /native-cpu: addon missing/);
  assert.match(e.message, /web-wasm: wasm missing/);
});

test('device aliases walk their candidates in priority order and skip other backends', async (t) => {
  const all = BACKEND_IDS;
  const cases: { alias: 'gpu' | 'webgpu' | 'cpu' | 'cuda' | 'wasm'; failing: BackendId[]; probed: BackendId[]; pick: BackendId | null }[] = [
    { alias: 'gpu', failing: ['native-cuda', 'native-webgpu'], probed: ['native-cuda', 'native-webgpu', 'web-webgpu'], pick: 'web-webgpu' },
    { alias: 'gpu', failing: [], probed: ['native-cuda'], pick: 'native-cuda' },
    { alias: 'gpu', failing: ['native-cuda', 'native-webgpu', 'web-webgpu'], probed: ['native-cuda', 'native-webgpu', 'web-webgpu'], pick: null },
    { alias: 'webgpu', failing: ['native-webgpu'], probed: ['native-webgpu', 'web-webgpu'], pick: 'web-webgpu' },
    { alias: 'webgpu', failing: [], probed: ['native-webgpu'], pick: 'native-webgpu' },
    { alias: 'cpu', failing: ['native-cpu'], probed: ['native-cpu', 'web-wasm'], pick: 'web-wasm' },
    { alias: 'cpu', failing: [], probed: ['native-cpu'], pick: 'native-cpu' },
    { alias: 'cuda', failing: [], probed: ['native-cuda'], pick: 'native-cuda' },
    { alias: 'cuda', failing: ['native-cuda'], probed: ['native-cuda'], pick: null },
    { alias: 'wasm', failing: [], probed: ['web-wasm'], pick: 'web-wasm' },
  ];
  for (const c of cases) {
    await t.test(`${c.alias} with [${c.failing.join(', ')}] failing → ${c.pick ?? 'error'}`, async () => {
      const { reg, log } = setup(all, Object.fromEntries(c.failing.map((id) => [id, `${id} broken`])));
      if (c.pick === null) {
        const e = await rejectsWith('BACKEND_UNAVAILABLE', () => reg.resolve(c.alias));
        for (const id of c.failing) assert.match(e.message, new RegExp(`${id} broken`));
      } else {
        assert.equal((await reg.resolve(c.alias)).id, c.pick);
      }
      assert.deepEqual(log, c.probed);
    });
  }
});

test('parseBackendRequest accepts every documented word and defaults to auto', () => {
  assert.equal(parseBackendRequest(undefined), 'auto');
  assert.equal(parseBackendRequest(''), 'auto');
  for (const w of ['auto', ...BACKEND_IDS, 'cuda', 'webgpu', 'gpu', 'cpu', 'wasm']) {
    assert.equal(parseBackendRequest(w), w);
    assert.ok(BACKEND_REQUESTS.includes(w), `${w} listed in BACKEND_REQUESTS`);
  }
});

test('parseBackendRequest("bogus") throws UNKNOWN_BACKEND listing the valid values', () => {
  assert.throws(() => parseBackendRequest('bogus'), (e: unknown) => {
    assert.ok(isOmniserveError(e, 'UNKNOWN_BACKEND'));
    assert.equal(e.status, 400);
    assert.match(e.message, /"bogus"/);
    for (const w of BACKEND_REQUESTS) assert.ok(e.message.includes(w), `message lists ${w}`);
    assert.deepEqual(e.details?.['valid'], [...BACKEND_REQUESTS]);
    return true;
  });
  assert.throws(() => parseBackendRequest('CPU'), (e: unknown) => isOmniserveError(e, 'UNKNOWN_BACKEND'));
});

test('cleanReason keeps the useful end of an onnxruntime native error', () => {
  assert.equal(cleanReason(ORT_WEBGPU_ERROR), 'Failed to get a WebGPU adapter: No supported adapters');
  assert.equal(cleanReason('  no NVIDIA GPU (no /dev/nvidiactl)\n'), 'no NVIDIA GPU (no /dev/nvidiactl)');
  assert.equal(cleanReason('/some/other/path.cc:1 was false. kept'), '/some/other/path.cc:1 was false. kept');
});

test('probe failures are stored cleaned', async () => {
  const log: string[] = [];
  const reg = new BackendRegistry([stub('native-webgpu', log, ORT_WEBGPU_ERROR), stub('native-cpu', log)]);
  assert.equal((await reg.resolve('auto')).id, 'native-cpu');
  assert.equal(reg.status()[0]!.reason, 'Failed to get a WebGPU adapter: No supported adapters');
  const e = await rejectsWith('BACKEND_UNAVAILABLE', () => reg.resolve('native-webgpu'));
  assert.match(e.message, /native-webgpu: Failed to get a WebGPU adapter: No supported adapters/);
  assert.doesNotMatch(e.message, /onnxruntime_src/);
});

test('probeAll probes every backend and reports each state', async () => {
  const { reg, stubs } = setup(['native-cuda', 'native-cpu', 'web-wasm'], { 'web-wasm': 'no wasm' });
  const st = await reg.probeAll();
  assert.deepEqual(st.map((s) => s.state), ['available', 'available', 'unavailable']);
  assert.deepEqual(st.map((s) => [s.package, s.provider, s.device]), [
    ['onnxruntime-node', 'cuda', 'gpu'], ['onnxruntime-node', 'cpu', 'cpu'], ['onnxruntime-web', 'wasm', 'cpu'],
  ]);
  assert.ok(stubs.every((s) => s.probes === 1));
});

test('next: the request\'s following candidate that probes well (where a model goes when a backend lacks its operators); none for a pinned id', async () => {
  const { reg, log } = setup(['native-cpu', 'web-webgpu', 'native-webgpu', 'web-wasm'], { 'native-webgpu': 'no GPU device node' });
  assert.equal((await reg.next('auto', 'web-webgpu'))?.id, 'web-wasm', 'the failed native-webgpu is passed over');
  assert.equal((await reg.next('auto', 'native-cpu'))?.id, 'web-webgpu');
  assert.equal(await reg.next('auto', 'web-wasm'), undefined, 'nothing after the last');
  assert.equal((await reg.next('cpu', 'native-cpu'))?.id, 'web-wasm', 'an alias walks its own candidates only');
  assert.equal(await reg.next('gpu', 'web-webgpu'), undefined, 'gpu has no candidate after web-webgpu that probes well');
  assert.equal(await reg.next('web-webgpu', 'web-webgpu'), undefined, 'a pinned backend has no next');
  assert.deepEqual([...new Set(log)].sort(), ['native-webgpu', 'web-wasm', 'web-webgpu'], 'only the candidates after the one given are probed');
});
