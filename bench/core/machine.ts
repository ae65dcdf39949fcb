/**
 * A description of the machine and software a benchmark ran on, so numbers in
 * bench/results/ can be compared (or not) with numbers from elsewhere.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import type { Machine } from './types.ts';

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // Not Linux: os.cpus() below still names the CPU.
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function versionOf(cmd: string, args: string[]): string {
  try {
    // `deno --version` prints "deno 2.9.6 (stable, …)" then v8 and typescript lines.
    const first = execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0]!.trim();
    return /\d+\.\d+\.\d+\S*/.exec(first)?.[0] ?? first;
  } catch (e) {
    return `unavailable (${(e as Error).message.split('\n')[0]})`;
  }
}

/**
 * Versions of the load generator and Redis that bench/realtime and bench/async run
 * (`$WRK`, `$REDIS_SERVER` or the ones on PATH), for their reports' machine description.
 */
export function loadToolVersions(): { wrk: string; redis: string } {
  const of = (cmd: string, re: RegExp) => {
    try {
      const out = execFileSync(cmd, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return re.exec(out)?.[1] ?? out.split('\n')[0]!.trim();
    } catch (e) {
      // `wrk --version` prints its banner and exits 1.
      return re.exec(`${(e as { stdout?: string }).stdout ?? ''}`)?.[1] ?? 'unknown';
    }
  };
  return { wrk: of(process.env.WRK ?? 'wrk', /^wrk (\S+)/m), redis: of(process.env.REDIS_SERVER ?? 'redis-server', /v=(\S+)/) };
}

function packageVersion(root: string, name: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

/** The commit the code under test came from, flagged when src/ or runtimes/ differ from it. */
export function sourceRevision(root: string): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
    const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'runtimes') !== '';
    return `${git('rev-parse', 'HEAD')}${dirty ? ' + uncommitted changes in src/ or runtimes/' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** Describes this machine; `loadBefore` is `os.loadavg()` taken before the benchmark started. */
export function describeMachine(root: string, loadBefore: readonly number[]): Machine {
  const bin = (name: string) => join(root, 'node_modules', '.bin', name);
  const round2 = (xs: readonly number[]) => xs.map((x) => Math.round(x * 100) / 100);
  return {
    cpu: cpuModel(),
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavg: { before: round2(loadBefore), after: round2(os.loadavg()) },
    runtimes: { node: process.versions.node, bun: versionOf(bin('bun'), ['--version']), deno: versionOf(bin('deno'), ['--version']) },
    onnxruntime: Object.fromEntries(['onnxruntime-node', 'onnxruntime-web', 'onnxruntime-common'].map((p) => [p, packageVersion(root, p)])),
  };
}
