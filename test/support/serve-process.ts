/**
 * `omniserve serve` as a real child process on Node, Bun or Deno: start it with a config,
 * read the URL from its `{"event":"listening"}` line, stop it with a signal. Plus a raw
 * HTTP client (node:http, one connection per request) for requests fetch cannot make:
 * a lying or absent Content-Length, chunked bodies, invalid UTF-8, odd methods.
 */
import { existsSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnProcess, type ExitStatus, type ManagedProcess } from './process.ts';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A host that can run the CLI. */
export interface ServeHost {
  readonly name: 'node' | 'bun' | 'deno';
  readonly cmd: string;
  readonly args: readonly string[];
}

/** Node, Bun and Deno, as users start them (cwd = repository root). */
export const SERVE_HOSTS: readonly ServeHost[] = [
  { name: 'node', cmd: process.execPath, args: [join(ROOT, 'bin/omniserve.mjs')] },
  { name: 'bun', cmd: join(ROOT, 'node_modules/.bin/bun'), args: [join(ROOT, 'runtimes/bun/main.ts')] },
  { name: 'deno', cmd: join(ROOT, 'node_modules/.bin/deno'), args: ['run', '-A', join(ROOT, 'runtimes/deno/main.ts')] },
];

/** Why a host cannot run here, or undefined when it can. */
export const missingHost = (h: ServeHost): string | undefined => (existsSync(h.cmd) ? undefined : `${h.cmd} is not installed`);

/** A running `omniserve serve`. */
export interface ServeProcess {
  readonly host: ServeHost;
  /** `http://127.0.0.1:PORT` from the listening line. */
  readonly url: string;
  readonly port: number;
  /** The whole listening line. */
  readonly listening: Readonly<Record<string, unknown>>;
  readonly proc: ManagedProcess;
  /** SIGTERM (SIGKILL after `graceMs`), resolves with how it ended. */
  stop(graceMs?: number): Promise<ExitStatus>;
}

/**
 * The environment of a CLI child: the config file is the whole truth, so no overrides from
 * the developer's environment (`extra` adds the test's own), and a node:test child must not
 * think it is a test runner worker.
 */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
  for (const k of ['PORT', 'REDIS_URL', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'OMNISERVE_API_KEYS', 'OMNISERVE_BACKEND', 'OMNISERVE_WEBHOOK_SECRET']) delete env[k];
  Object.assign(env, extra);
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

/** Starts `omniserve serve --config <configPath>` on `host`; rejects with the output tail if it dies first. */
export async function startServe(
  host: ServeHost,
  configPath: string,
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; extraArgs?: readonly string[] } = {},
): Promise<ServeProcess> {
  const proc = await spawnProcess(host.cmd, [...host.args, 'serve', '--config', configPath, ...(opts.extraArgs ?? [])], {
    cwd: ROOT, env: childEnv(opts.env), name: `serve:${host.name}`,
  });
  let line: string;
  try {
    line = await proc.lines.waitFor((l) => l.trimStart().startsWith('{') && l.includes('"listening"'), opts.timeoutMs ?? 60_000);
  } catch (e) {
    await proc.stop({ signal: 'SIGKILL' });
    throw new Error(`omniserve serve on ${host.name} did not print its listening line: ${(e as Error).message}\n${proc.outputTail()}`);
  }
  const listening = JSON.parse(line) as Record<string, unknown>;
  const url = String(listening['url']);
  return {
    host, url, port: Number(listening['port']), listening, proc,
    stop: (graceMs = 10_000) => proc.stop({ signal: 'SIGTERM', graceMs }),
  };
}

/** A running `omniserve worker`. */
export interface WorkerProcess {
  readonly host: ServeHost;
  /** The whole `{"event":"worker"}` line (`metrics_url` with --metrics-port). */
  readonly line: Readonly<Record<string, unknown>>;
  readonly proc: ManagedProcess;
}

/** Starts `omniserve worker --config <configPath>` on `host`; rejects with the output tail if it does not come up. */
export async function startWorker(
  host: ServeHost,
  configPath: string,
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; extraArgs?: readonly string[]; name?: string } = {},
): Promise<WorkerProcess> {
  const name = opts.name ?? `worker:${host.name}`;
  const proc = await spawnProcess(host.cmd, [...host.args, 'worker', '--config', configPath, ...(opts.extraArgs ?? [])], {
    cwd: ROOT, env: childEnv(opts.env), name,
  });
  try {
    const line = await proc.lines.waitFor((l) => l.includes('"event":"worker"'), opts.timeoutMs ?? 60_000);
    return { host, line: JSON.parse(line) as Record<string, unknown>, proc };
  } catch (e) {
    await proc.stop({ signal: 'SIGKILL' });
    throw new Error(`${name} did not start: ${(e as Error).message}\n${proc.outputTail()}`);
  }
}

/** What a raw request got back; `error` is set when no response came (reset, refused). */
export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  readonly error?: string;
}

/** A request as raw as node:http allows. */
export interface RawRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A whole body (sent with its Content-Length unless the headers say otherwise). */
  readonly body?: string | Uint8Array;
  /** Sent chunked, without a Content-Length. */
  readonly chunks?: readonly Uint8Array[];
  readonly timeoutMs?: number;
}

/** Sends one request on its own connection and reads the whole answer. Never rejects. */
export function rawRequest(baseUrl: string, r: RawRequest): Promise<RawResponse> {
  const u = new URL(baseUrl);
  if (r.chunks) return rawChunked(u, r);
  const headers: Record<string, string> = { ...r.headers };
  const body = typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : r.body;
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
    headers['content-length'] = String(body.byteLength);
  }
  return new Promise((resolve) => {
    let settled = false;
    const done = (res: RawResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(res);
    };
    const req = httpRequest({ host: u.hostname, port: u.port, method: r.method, path: r.path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      const finish = (error?: string) =>
        done({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString('utf8'), ...(error ? { error } : {}) });
      res.on('end', () => finish());
      res.on('error', (e) => finish(`response: ${e.message}`));
      res.on('aborted', () => finish('response aborted'));
    });
    const timer = setTimeout(() => {
      req.destroy();
      done({ status: 0, headers: {}, text: '', error: `no answer within ${r.timeoutMs ?? 10_000} ms` });
    }, r.timeoutMs ?? 10_000);
    // A server that answers 413 early may close while we still write: the answer counts.
    req.on('error', (e: NodeJS.ErrnoException) => done({ status: 0, headers: {}, text: '', error: `${e.code ?? ''} ${e.message}` }));
    req.end(body);
  });
}

/**
 * A chunked upload over a raw socket. node:http's client gives up on the answer when a
 * write fails (EPIPE once the server answered 413 and closed), so this one writes
 * everything, ignores write errors, reads the answer, and never half-closes (some hosts
 * treat a half-closed connection as an aborted request).
 */
async function rawChunked(u: URL, r: RawRequest): Promise<RawResponse> {
  const sock = connect(Number(u.port), u.hostname);
  sock.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
  } catch (e) {
    return { status: 0, headers: {}, text: '', error: (e as Error).message };
  }
  const answer = readHttpResponse(sock, r.timeoutMs ?? 10_000);
  const head = Object.entries({ host: u.host, ...r.headers, 'transfer-encoding': 'chunked' }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  sock.write(`${r.method} ${r.path} HTTP/1.1\r\n${head}\r\n`);
  for (const c of r.chunks!) {
    if (sock.destroyed) break;
    sock.write(`${c.byteLength.toString(16)}\r\n`);
    sock.write(c);
    sock.write('\r\n');
  }
  if (!sock.destroyed) sock.write('0\r\n\r\n');
  const res = await answer;
  sock.destroy();
  return res;
}

/** Reads one HTTP/1.1 response from a raw socket (Content-Length or chunked); leaves the socket open. */
export function readHttpResponse(sock: Socket, timeoutMs: number): Promise<RawResponse> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const finish = (a: RawResponse) => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      resolve(a);
    };
    const parse = (): RawResponse | undefined => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const head = buf.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const headers: IncomingHttpHeaders = {};
      for (const line of head.split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const rest = buf.subarray(end + 4);
      const len = headers['content-length'];
      if (len !== undefined) {
        const n = Number(len);
        return rest.length >= n ? { status, headers, text: rest.subarray(0, n).toString('utf8') } : undefined;
      }
      if (/chunked/i.test(String(headers['transfer-encoding'] ?? ''))) {
        let off = 0;
        const parts: Buffer[] = [];
        for (;;) {
          const nl = rest.indexOf('\r\n', off);
          if (nl < 0) return undefined;
          const size = parseInt(rest.subarray(off, nl).toString('latin1'), 16);
          if (size === 0) return { status, headers, text: Buffer.concat(parts).toString('utf8') };
          if (rest.length < nl + 2 + size + 2) return undefined;
          parts.push(rest.subarray(nl + 2, nl + 2 + size));
          off = nl + 2 + size + 2;
        }
      }
      return undefined;
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const a = parse();
      if (a) finish(a);
    };
    const onClose = () => finish({ status: 0, headers: {}, text: buf.toString('utf8'), error: 'connection closed before a whole answer' });
    const timer = setTimeout(() => finish({ status: 0, headers: {}, text: buf.toString('utf8'), error: `no whole answer within ${timeoutMs} ms` }), timeoutMs);
    sock.on('data', onData);
    sock.once('close', onClose);
  });
}

/** True when `text` looks like it leaks a stack trace or a source path. */
export function leaksInternals(text: string): string | undefined {
  if (/\n\s*at\s/.test(text) || /\bat\s+[\w.<>$]+\s+\(/.test(text)) return 'a stack frame ("at …")';
  if (/(?:file:\/\/|node_modules|\/work\/|\/home\/|\/tmp\/)/.test(text)) return 'a file path';
  if (/[\w-]+\.(?:ts|mjs|js):\d+/.test(text)) return 'a source location';
  if (text.includes(ROOT)) return 'the repository path';
  return undefined;
}
