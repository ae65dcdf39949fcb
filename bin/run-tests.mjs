#!/usr/bin/env node
// The whole test run (`npm test`): type checks, then every *.test.ts on Node, every
// *.bun.test.ts on Bun and every *.deno.test.ts on Deno, then one closing line
// "N passed, M failed". Exit code non-zero when anything failed.
// Usage: node bin/run-tests.mjs [--hosts node,bun,deno] [--no-typecheck] [path filter...]
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const args = process.argv.slice(2);
const hostsArg = args.indexOf('--hosts');
const hosts = hostsArg >= 0 ? args[hostsArg + 1].split(',') : ['node', 'bun', 'deno'];
const filters = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--hosts');
const typecheck = !args.includes('--no-typecheck');

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}
const all = ['src', 'runtimes', 'workers', 'wasm', 'test', 'bench']
  .flatMap((d) => { try { return walk(join(root, d)); } catch { return []; } })
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
const byHost = {
  node: all.filter((f) => !f.endsWith('.bun.test.ts') && !f.endsWith('.deno.test.ts')),
  bun: all.filter((f) => f.endsWith('.bun.test.ts')),
  deno: all.filter((f) => f.endsWith('.deno.test.ts')),
};

function run(cmd, cmdArgs, env = {}) {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(cmd, cmdArgs, { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), how: signal ? `signal ${signal}` : `exit code ${code}`, out }));
  });
}

const plain = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
const count = (out, re) => [...plain(out).matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
let passed = 0;
let failed = 0;
let broken = [];
const exitCrashes = [];
const t0 = Date.now();

if (typecheck) {
  for (const project of ['tsconfig.json', 'tsconfig.src.json']) {
    console.log(`\n== typecheck ${project}`);
    const r = await run(bin('tsc'), ['-p', project]);
    if (r.code !== 0) { failed++; broken.push(`typecheck ${project}`); } else passed++;
  }
}
if (hosts.includes('node') && byHost.node.length) {
  console.log(`\n== node ${process.version}: ${byHost.node.length} files`);
  const r = await run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...byHost.node]);
  passed += count(r.out, /^ℹ pass (\d+)/gm);
  const f = count(r.out, /^ℹ fail (\d+)/gm) + count(r.out, /^ℹ cancelled (\d+)/gm);
  failed += f;
  if (r.code !== 0 && f === 0) { failed++; broken.push('node test run'); }
}
if (hosts.includes('bun') && byHost.bun.length) {
  console.log(`\n== bun: ${byHost.bun.length} files`);
  const r = await run(bin('bun'), ['test', '--timeout', '120000', ...byHost.bun.map((f) => `./${f}`)]);
  passed += count(r.out, /^\s*(\d+) pass$/gm);
  const f = count(r.out, /^\s*(\d+) fail$/gm);
  failed += f;
  if (r.code !== 0 && f === 0) { failed++; broken.push('bun test run'); }
}
if (hosts.includes('deno') && byHost.deno.length) {
  // One process per file. Mesa's Vulkan (WebGPU on llvmpipe) wants a runtime dir; without
  // one it prints an error per device. A Deno process that passed every test and then died
  // while tearing down native code (onnxruntime-node through Node-API, seen once in CI as a
  // glibc abort at exit) is rerun once and reported; a second crash counts as a failure.
  const xdg = join(root, '.tmp', 'xdg-runtime');
  mkdirSync(xdg, { recursive: true, mode: 0o700 });
  console.log(`\n== deno: ${byHost.deno.length} files`);
  for (const file of byHost.deno) {
    for (let attempt = 1; ; attempt++) {
      const r = await run(bin('deno'), ['test', '-A', '--no-check', file], { XDG_RUNTIME_DIR: xdg });
      const p = count(r.out, /ok \| (\d+) passed/g) + count(r.out, /FAILED \| (\d+) passed/g);
      const f = count(r.out, /\| (\d+) failed/g);
      const cleanSummary = /ok \| \d+ passed \| 0 failed/.test(plain(r.out));
      if (r.code !== 0 && f === 0 && cleanSummary && attempt === 1) {
        console.log(`\n!! deno: ${file}: all ${p} tests passed, then the process died at exit (${r.how}); running it once more`);
        exitCrashes.push(`${file} (${r.how})`);
        continue;
      }
      passed += p;
      failed += f;
      if (r.code !== 0 && f === 0) { failed++; broken.push(`deno test run ${file} (${r.how})`); }
      break;
    }
  }
}
if (exitCrashes.length) console.log(`\nnote: died at exit after passing all its tests, so ran once more: ${exitCrashes.join(', ')}`);
console.log(`\n${broken.length ? `broken: ${broken.join(', ')}\n` : ''}(${Math.round((Date.now() - t0) / 1000)} s)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
