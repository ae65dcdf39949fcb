// The `omniserve` CLI as users run it: real processes on Node, Bun and Deno, each case
// checked against the goldens or the documented exit codes and error codes.
// At most two child processes run at once (the CI machine has two cores).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { BACKEND_REQUESTS } from '../../src/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/models/breast-cancer.onnx');
const SAMPLE = join(ROOT, 'models/breast-cancer.sample.jsonl');
const golden = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/goldens/breast-cancer.json'), 'utf8')) as {
  outputs: { logit: { data: number[] } };
  records: Record<string, number>[];
};
const GOLDEN_STDIN = golden.records.map((r) => JSON.stringify(r)).join('\n') + '\n';
const HAS_NVIDIA = existsSync('/dev/nvidiactl');

interface Host {
  readonly name: 'node' | 'bun' | 'deno';
  readonly cmd: string;
  readonly args: readonly string[];
}

const HOSTS: readonly Host[] = [
  { name: 'node', cmd: process.execPath, args: [join(ROOT, 'bin/omniserve.mjs')] },
  { name: 'bun', cmd: join(ROOT, 'node_modules/.bin/bun'), args: [join(ROOT, 'runtimes/bun/main.ts')] },
  { name: 'deno', cmd: join(ROOT, 'node_modules/.bin/deno'), args: ['run', '-A', join(ROOT, 'runtimes/deno/main.ts')] },
];

// ---- a two-slot gate so the whole file never runs more than two children at once ----
const MAX_CHILDREN = 2;
let running = 0;
const waiting: (() => void)[] = [];
async function acquire(): Promise<void> {
  if (running < MAX_CHILDREN) {
    running++;
    return;
  }
  await new Promise<void>((resolve) => waiting.push(resolve));
}
function release(): void {
  const next = waiting.shift();
  if (next) next();
  else running--;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI on `host` (cwd = repository root) and collects everything. */
async function cli(host: Host, args: readonly string[], stdin?: string): Promise<Run> {
  await acquire();
  try {
    return await new Promise<Run>((resolve, reject) => {
      const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
      delete env['NODE_TEST_CONTEXT'];
      const child = spawn(host.cmd, [...host.args, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      child.stdin.on('error', () => {});
      child.stdin.end(stdin ?? '');
      const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (signal) reject(new Error(`${host.name} ${args.join(' ')}: killed by ${signal}\n${stderr.slice(-2000)}`));
        else resolve({ code, stdout, stderr });
      });
    });
  } finally {
    release();
  }
}

const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout.slice(0, 2000)}\n--- stderr\n${r.stderr.slice(-2000)}`;
const jsonLines = (s: string) => s.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
/** Parses the predict summary on stderr. */
function summary(r: Run): { scored: number; failed: number; backend: string } {
  const m = /omniserve predict: (\d+) rows scored, (\d+) failed, model \S+ on (\S+),/.exec(r.stderr);
  assert.ok(m, `no summary line on stderr\n${show(r)}`);
  return { scored: Number(m[1]), failed: Number(m[2]), backend: m[3]!.replace(/,$/, '') };
}
function assertClose(got: unknown, want: number, what: string): void {
  assert.ok(typeof got === 'number' && Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)),
    `${what}: got ${String(got)}, expected ${want}`);
}

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'omniserve-cli-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const T = { timeout: 120_000 };

for (const host of HOSTS) {
  // A missing host binary fails every case below (never a silent skip).
  describe(`omniserve CLI on ${host.name}`, { concurrency: 2 }, () => {
    test('predict --model demo on the bundled sample: 20 scored rows, exit 0', T, async () => {
      const r = await cli(host, ['predict', '--model', 'demo', '--input', SAMPLE]);
      assert.equal(r.code, 0, show(r));
      const rows = jsonLines(r.stdout);
      assert.equal(rows.length, 20, show(r));
      rows.forEach((row, i) => {
        assert.equal(row['id'], i);
        assert.equal(typeof row['logit'], 'number');
        const p = row['probability'] as number;
        assert.ok(typeof p === 'number' && p >= 0 && p <= 1, `row ${i}: probability ${p}`);
        assert.ok(row['prediction'] === 0 || row['prediction'] === 1, `row ${i}: prediction ${String(row['prediction'])}`);
        assert.equal(row['prediction'], p >= 0.5 ? 1 : 0);
        assert.equal(row['label'], row['prediction'] === 1 ? 'benign' : 'malignant');
      });
      assert.deepEqual(summary(r), { scored: 20, failed: 0, backend: 'native-cpu' });
    });

    test('predict reading stdin gives the golden logits', T, async () => {
      const r = await cli(host, ['predict', '--model', MODEL], GOLDEN_STDIN);
      assert.equal(r.code, 0, show(r));
      const rows = jsonLines(r.stdout);
      assert.equal(rows.length, golden.records.length, show(r));
      rows.forEach((row, i) => assertClose(row['logit'], golden.outputs.logit.data[i]!, `row ${i} logit`));
      assert.equal(summary(r).scored, 32);
    });

    test('bad lines get an error line in their place, good rows are still scored, exit 3', T, async () => {
      const [g0, g1, g2, g3, g4] = golden.records;
      const { mean_radius: _drop, ...missing } = g2!;
      const input = [
        JSON.stringify(g0), //                                   line 1: good → golden 0
        '{"mean_radius": 17.99, "mean_texture":', //           line 2: malformed JSON
        JSON.stringify(g1), //                                   line 3: good → golden 1
        '[1, 2, 3]', //                                           line 4: not an object
        JSON.stringify(missing), //                               line 5: missing feature
        '', //                                                    line 6: blank, skipped
        JSON.stringify({ ...g3, mean_texture: 'abc' }), //       line 7: string feature
        JSON.stringify(g4), //                                    line 8: good → golden 4
      ].join('\n') + '\n';
      const want: ({ golden: number } | { code: string; line: number; mentions?: string })[] = [
        { golden: 0 },
        { code: 'INVALID_JSON', line: 2 },
        { golden: 1 },
        { code: 'INVALID_REQUEST', line: 4 },
        { code: 'MISSING_FEATURE', line: 5, mentions: 'mean_radius' },
        { code: 'INVALID_FEATURE_TYPE', line: 7, mentions: 'mean_texture' },
        { golden: 4 },
      ];
      const variants = host.name === 'node' ? [[], ['--batch-size', '2']] : [[]];
      for (const extra of variants) {
        const r = await cli(host, ['predict', '--model', MODEL, ...extra], input);
        assert.equal(r.code, 3, show(r));
        const rows = jsonLines(r.stdout);
        assert.equal(rows.length, want.length, show(r));
        rows.forEach((row, i) => {
          const w = want[i]!;
          if ('golden' in w) {
            assertClose(row['logit'], golden.outputs.logit.data[w.golden]!, `output line ${i + 1} (${extra.join(' ')})`);
            assert.equal(row['code'], undefined);
          } else {
            assert.deepEqual(Object.keys(row).sort(), ['code', 'error', 'line'], JSON.stringify(row));
            assert.equal(row['code'], w.code, JSON.stringify(row));
            assert.equal(row['line'], w.line, JSON.stringify(row));
            assert.match(row['error'] as string, new RegExp(`^line ${w.line}: `));
            if (w.mentions) assert.ok((row['error'] as string).includes(w.mentions), JSON.stringify(row));
          }
        });
        const s = summary(r);
        assert.equal(s.scored, 3, show(r));
        assert.equal(s.failed, 4, show(r));
      }
    });

    test('--backend web-wasm gives the same logits as native-cpu', T, async () => {
      const [cpu, wasm] = await Promise.all([
        cli(host, ['predict', '--model', MODEL, '--backend', 'native-cpu'], GOLDEN_STDIN),
        cli(host, ['predict', '--model', MODEL, '--backend', 'web-wasm'], GOLDEN_STDIN),
      ]);
      assert.equal(cpu.code, 0, show(cpu));
      assert.equal(wasm.code, 0, show(wasm));
      assert.equal(summary(cpu).backend, 'native-cpu');
      assert.equal(summary(wasm).backend, 'web-wasm');
      const a = jsonLines(cpu.stdout);
      const b = jsonLines(wasm.stdout);
      assert.equal(a.length, 32);
      assert.equal(b.length, 32);
      a.forEach((row, i) => {
        assertClose(b[i]!['logit'], row['logit'] as number, `row ${i} wasm vs cpu`);
        assert.equal(b[i]!['prediction'], row['prediction']);
      });
    });

    test('--backend native-cuda without a GPU: exit 1, BACKEND_UNAVAILABLE with the reason', { ...T, skip: HAS_NVIDIA && 'this machine has an NVIDIA device' }, async () => {
      const r = await cli(host, ['predict', '--model', MODEL, '--backend', 'native-cuda'], GOLDEN_STDIN);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /BACKEND_UNAVAILABLE/);
      assert.match(r.stderr, /native-cuda: no NVIDIA GPU \(no \/dev\/nvidiactl\)/);
      assert.equal(r.stdout, '', 'nothing scored on another backend');
    });

    test('--backend bogus: exit 1, UNKNOWN_BACKEND listing the valid values', T, async () => {
      const r = await cli(host, ['predict', '--model', MODEL, '--backend', 'bogus'], GOLDEN_STDIN);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /UNKNOWN_BACKEND: unknown backend "bogus"; valid: /);
      for (const w of BACKEND_REQUESTS) assert.ok(r.stderr.includes(w), `stderr lists ${w}`);
      assert.equal(r.stdout, '');
    });

    test('--model /nonexistent.onnx: exit 1, MODEL_FILE_NOT_FOUND', T, async () => {
      const r = await cli(host, ['predict', '--model', '/nonexistent.onnx'], GOLDEN_STDIN);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /MODEL_FILE_NOT_FOUND: .*\/nonexistent\.onnx/);
      assert.equal(r.stdout, '');
    });

    test('a corrupt model file: exit 1, INVALID_MODEL', T, async () => {
      const path = join(tmp, `corrupt-${host.name}.onnx`);
      writeFileSync(path, randomBytes(4096));
      const r = await cli(host, ['predict', '--model', path], GOLDEN_STDIN);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /INVALID_MODEL: /);
      assert.equal(r.stdout, '');
    });

    test('an unknown command exits 2 with the usage; bench hands its arguments to the suite', T, async () => {
      const [unknown, bench] = await Promise.all([cli(host, ['frobnicate']), cli(host, ['bench', '--scenario', 'core,nope'])]);
      assert.equal(unknown.code, 2, show(unknown));
      assert.match(unknown.stderr, /unknown command "frobnicate"/);
      assert.match(unknown.stderr, /Usage: omniserve <command>/);
      assert.equal(bench.code, 2, show(bench));
      assert.match(bench.stderr, /omniserve bench: unknown scenario "nope": expected core, realtime, async, stream, batch, browser/);
    });

    test('backends: JSON report of host, selection and every backend', T, async () => {
      const r = await cli(host, ['backends']);
      assert.equal(r.code, 0, show(r));
      const report = JSON.parse(r.stdout) as {
        host: { name: string; webgpu: boolean };
        request: string;
        selected: string | null;
        backends: { id: string; state: string; reason?: string; used: boolean; skipped?: string; info?: Record<string, unknown> }[];
      };
      const by = Object.fromEntries(report.backends.map((b) => [b.id, b]));
      assert.equal(report.host.name, host.name);
      assert.equal(report.request, 'auto');
      assert.equal(report.selected, 'native-cpu');
      assert.deepEqual(report.backends.map((b) => b.id), ['native-cuda', 'native-webgpu', 'native-cpu', 'web-webgpu', 'web-wasm']);
      assert.ok(report.backends.every((b) => b.state !== 'not-probed'), 'every backend probed');
      assert.equal(by['native-cpu']!.used, true);
      assert.equal(by['native-cpu']!.state, 'available');
      if (!HAS_NVIDIA) {
        assert.equal(by['native-cuda']!.state, 'unavailable');
        assert.match(by['native-cuda']!.reason ?? '', /nvidiactl/);
      }
      assert.equal(by['native-webgpu']!.state, 'unavailable');
      assert.ok((by['native-webgpu']!.reason ?? '').trim().length > 0, 'native-webgpu has a reason');
      assert.doesNotMatch(by['native-webgpu']!.reason!, /onnxruntime_src/, 'the reason is cleaned');
      assert.equal(by['web-wasm']!.state, 'available');
      assert.equal(by['web-wasm']!.used, false);
      assert.equal(by['web-wasm']!.skipped, 'native-cpu has higher priority');
      if (host.name === 'deno') {
        assert.equal(report.host.webgpu, true);
        assert.equal(by['web-webgpu']!.state, 'available', JSON.stringify(by['web-webgpu']));
        assert.equal(typeof by['web-webgpu']!.info?.['adapter'], 'string');
        assert.equal(by['web-webgpu']!.skipped, 'native-cpu has higher priority');
      } else {
        assert.equal(report.host.webgpu, false);
        assert.equal(by['web-webgpu']!.state, 'unavailable');
        assert.match(by['web-webgpu']!.reason ?? '', /navigator\.gpu/);
      }
    });
  });
}
