/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) into self time per function and per
 * package, so "where does the server's time go" has numbers: omniserve's own code (src/,
 * runtimes/), hono, @hono/node-server, ioredis, Node internals, GC, idle.
 * @module
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** One function's self time. */
export interface SelfTime {
  readonly fn: string;
  /** `package` (or omniserve's `src/…`, `runtimes/…` path) and line. */
  readonly where: string;
  readonly group: string;
  readonly ms: number;
  /** Share of the non-idle time. */
  readonly share: number;
}

/** A profile's self time: per function (largest first) and per group. */
export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly functions: readonly SelfTime[];
  readonly groups: readonly { readonly group: string; readonly ms: number; readonly share: number }[];
}

/** Which code a script URL belongs to. */
export function groupOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node internals';
  const own = /\/(src|runtimes|bench|bin)\//.exec(url);
  if (own) return `omniserve ${own[1]}/`;
  return 'other';
}

function whereOf(url: string, line: number): string {
  const pkg = /node_modules\/(.+)$/.exec(url);
  const own = /\/((?:src|runtimes|bench|bin)\/.+)$/.exec(url);
  const file = pkg?.[1] ?? own?.[1] ?? url;
  return file ? `${file}:${line + 1}` : '';
}

/** Summarises the profile at `path`; idle time (`(idle)`) is left out of the shares. */
export function summarizeProfile(path: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const fns = new Map<string, { fn: string; where: string; group: string; us: number }>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    totalUs += us;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const fn = functionName || '(anonymous)';
    const where = whereOf(url, lineNumber);
    const key = `${fn}@${where}`;
    const e = fns.get(key) ?? { fn, where, group: groupOf(url, fn), us: 0 };
    e.us += us;
    fns.set(key, e);
  }
  const busy = totalUs - idleUs;
  const groups = new Map<string, number>();
  for (const f of fns.values()) groups.set(f.group, (groups.get(f.group) ?? 0) + f.us);
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    functions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map((f) => ({ fn: f.fn, where: f.where, group: f.group, ms: f.us / 1000, share: f.us / busy })),
    groups: [...groups].sort((a, b) => b[1] - a[1]).map(([group, us]) => ({ group, ms: us / 1000, share: us / busy })),
  };
}
