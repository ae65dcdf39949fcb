/**
 * Runs wrk and reads its report: requests/s, the latency distribution of `--latency`
 * (us/ms/s/m units), non-2xx responses and socket errors, plus the `wrk-lua {…}` line that
 * post.lua's done() prints (exact percentiles in µs and the first non-2xx status and body).
 * @module
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of the wrk script (post.lua), absolute so the working directory does not matter. */
export const POST_LUA = fileURLToPath(new URL('./post.lua', import.meta.url));

/** What post.lua's done() reports. */
export interface WrkLua {
  readonly requests: number;
  readonly durationUs: number;
  readonly bytes: number;
  readonly non2xx: number;
  readonly firstStatus: number;
  readonly firstBody: string;
  readonly errors: { readonly connect: number; readonly read: number; readonly write: number; readonly status: number; readonly timeout: number };
  readonly latencyUs: { readonly p50: number; readonly p75: number; readonly p90: number; readonly p99: number; readonly mean: number; readonly max: number };
}

/** One wrk run, as parsed from its output. */
export interface WrkResult {
  readonly requestsPerSec: number;
  readonly requests: number;
  readonly seconds: number;
  /** Latency percentiles in ms (from post.lua's exact µs figures when present, else wrk's text). */
  readonly latencyMs: { readonly p50: number; readonly p75: number; readonly p90: number; readonly p99: number };
  /** Responses with a status outside 2xx/3xx (wrk's own count). */
  readonly non2xx: number;
  readonly socketErrors: { readonly connect: number; readonly read: number; readonly write: number; readonly timeout: number };
  readonly lua?: WrkLua;
}

const TIME_UNITS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A wrk time such as `812.00us`, `2.58ms`, `1.02s` or `1.50m`, in milliseconds. */
export function parseWrkTime(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`not a wrk time: "${text}"`);
  return Number(m[1]) * TIME_UNITS[m[2]!]!;
}

/** Parses wrk's stdout (run with `--latency`); throws when a figure it always prints is missing. */
export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk output has no ${what}:\n${out}`);
    return Number(m[1]);
  };
  const pct = (p: number): number => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)\\s*$`, 'm').exec(out);
    if (!m) throw new Error(`wrk output has no ${p}% latency (run wrk with --latency):\n${out}`);
    return parseWrkTime(m[1]!);
  };
  const reqLine = /^\s*(\d+) requests in ([\d.]+(?:us|ms|s|m|h)),/m.exec(out);
  if (!reqLine) throw new Error(`wrk output has no "N requests in T" line:\n${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const luaLine = /^wrk-lua (\{.*\})\s*$/m.exec(out);
  const lua = luaLine ? (JSON.parse(luaLine[1]!) as WrkLua) : undefined;
  return {
    requestsPerSec: num(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec'),
    requests: Number(reqLine[1]),
    seconds: parseWrkTime(reqLine[2]!) / 1000,
    latencyMs: lua
      ? { p50: lua.latencyUs.p50 / 1000, p75: lua.latencyUs.p75 / 1000, p90: lua.latencyUs.p90 / 1000, p99: lua.latencyUs.p99 / 1000 }
      : { p50: pct(50), p75: pct(75), p90: pct(90), p99: pct(99) },
    // wrk prints this line only when there were such responses.
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: sock
      ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    ...(lua ? { lua } : {}),
  };
}

/** Why a run's figures cannot be trusted as a good result (empty when clean). */
export function wrkProblems(r: WrkResult): string[] {
  const problems: string[] = [];
  const bad = Math.max(r.non2xx, r.lua?.non2xx ?? 0);
  if (bad > 0) {
    problems.push(`${bad} non-2xx responses${r.lua?.firstStatus ? ` (first: ${r.lua.firstStatus} ${r.lua.firstBody.slice(0, 160)})` : ''}`);
  }
  const s = r.socketErrors;
  if (s.connect + s.read + s.write + s.timeout > 0) {
    problems.push(`socket errors: connect ${s.connect}, read ${s.read}, write ${s.write}, timeout ${s.timeout}`);
  }
  if (r.requests === 0) problems.push('no request completed');
  return problems;
}

/** wrk's settings for one run. */
export interface WrkOptions {
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  readonly seconds: number;
  /** Per-request timeout (wrk's default of 2 s would count slow batch requests as errors). */
  readonly timeoutS?: number;
  /** A file post.lua sends as every request's body (default: random user/item ids). */
  readonly bodyFile?: string;
  /** Headers sent with `bodyFile` (a Content-Type here replaces application/json). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The wrk argv for `opts` (also what the report prints as the exact command). */
export function wrkArgs(opts: WrkOptions): string[] {
  return [
    `-t${opts.threads}`, `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency',
    ...(opts.timeoutS ? ['--timeout', `${opts.timeoutS}s`] : []),
    '-s', POST_LUA, opts.url,
    ...(opts.bodyFile ? ['--', opts.bodyFile, ...Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}`)] : []),
  ];
}

/** Runs wrk (`WRK` or `wrk` on PATH) and parses its output; `raw` is its stdout. */
export function runWrk(opts: WrkOptions): Promise<{ result: WrkResult; raw: string; args: string[] }> {
  const args = wrkArgs(opts);
  return new Promise((resolve, reject) => {
    execFile(process.env.WRK ?? 'wrk', args, { maxBuffer: 1 << 20, timeout: (opts.seconds + 60) * 1000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`wrk ${args.join(' ')} failed: ${err.message}\n${stderr}${stdout}`));
        return;
      }
      try {
        resolve({ result: parseWrk(stdout), raw: stdout, args });
      } catch (e) {
        reject(e);
      }
    });
  });
}
