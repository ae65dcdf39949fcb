/**
 * File access of batch runs on Node-API hosts: ranged reads for hyparquet, atomic writes
 * (a temporary name in the same directory, then rename, so a crash leaves either nothing
 * or a whole file), and input globs.
 * @module
 */
import { openAsBlob, readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initParquetWasm, parquetWasmReady } from '../../src/batch/parquet-wasm.ts';
import type { BatchHost } from '../../src/batch/run.ts';
import type { RangeFile } from '../../src/batch/unit.ts';
import type { EnrichSpec } from '../../src/batch/config.ts';
import type { FeatureStore } from '../../src/features/types.ts';

/** Opens a file for ranged reads; the handle is read with positional reads, never loaded whole. */
export async function openAsyncBuffer(path: string): Promise<RangeFile> {
  const { size } = await stat(path);
  const readInto = async (start: number, end: number, into: Uint8Array): Promise<Uint8Array> => {
    const fh = await open(path, 'r');
    try {
      const len = Math.max(0, Math.min(end, size) - start);
      let off = 0;
      while (off < len) {
        const { bytesRead } = await fh.read(into, off, len - off, start + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return into.subarray(0, off);
    } finally {
      await fh.close();
    }
  };
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      // Not zero-filled (every byte is read into below; a short read is cut off).
      const buf = Buffer.allocUnsafeSlow(Math.max(0, end - start));
      const got = await readInto(start, end, buf);
      return got.length === buf.length ? buf.buffer : buf.buffer.slice(0, got.length);
    },
    read: (start, end, into) => readInto(start, end, new Uint8Array(into, 0, Math.max(0, end - start))),
  };
}

/** The read-only feature store of `enrich`: Redis over TCP, or a file loaded into memory. */
export async function openFeatureStore(spec: EnrichSpec['store']): Promise<FeatureStore> {
  // Loaded here, not at the top: a worker thread that does not enrich never loads a driver.
  if (spec.kind === 'redis') return (await import('./redis-store.ts')).createRedisFeatureStore({ url: spec.url, ...(spec.keyPrefix ? { keyPrefix: spec.keyPrefix } : {}), commandTimeoutMs: 10_000, connectTimeoutMs: 5_000 });
  const bytes = new Uint8Array(await readFile(spec.path));
  const { createMemoryFeatureStore } = await import('../../src/features/memory-store.ts');
  const { parseFeatureFile } = await import('../../src/features/load-file.ts');
  return createMemoryFeatureStore(await parseFeatureFile(bytes, spec.path, { keyColumn: spec.keyColumn, prefix: spec.prefix }));
}

let seq = 0;

/**
 * The temporary name of `path` while it is written: hidden (a leading dot, which Spark,
 * Hive and Hadoop skip, and no `.parquet` ending for globs), in the same directory so
 * the rename is atomic.
 */
export function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${seq++}`);
}

const TEMP = /^\.(.+)\.tmp-\d+-\d+$/;

/**
 * Removes, under `dir` (recursively), the temporary files that `writeAtomic` left behind
 * (a writer killed mid-write) for final names `final` accepts. Returns their paths.
 */
export async function removeTemp(dir: string, final: (name: string) => boolean): Promise<string[]> {
  const removed: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: { code?: string }) => { if (e.code === 'ENOENT') return []; throw e; });
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) removed.push(...(await removeTemp(p, final)));
    else {
      const m = TEMP.exec(e.name);
      if (m && final(m[1]!)) { await rm(p, { force: true }); removed.push(p); }
    }
  }
  return removed;
}

/** Writes `bytes` (or its pieces, in order) to `path` through a temporary file and a rename. */
export async function writeAtomic(path: string, bytes: Uint8Array | readonly Uint8Array[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempName(path);
  try {
    if (bytes instanceof Uint8Array) await writeFile(tmp, bytes);
    else {
      const fh = await open(tmp, 'w');
      try {
        // One writev for all pieces; whatever a short write left goes piece by piece.
        let done = (await fh.writev(bytes as Uint8Array[])).bytesWritten;
        for (const piece of bytes) {
          const skip = Math.min(done, piece.length);
          done -= skip;
          for (let off = skip; off < piece.length;) off += (await fh.write(piece, off, piece.length - off)).bytesWritten;
        }
      } finally {
        await fh.close();
      }
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Compiles parquet-wasm from the module file inside the package (no network, no fetch). */
export function loadParquetWasm(): void {
  if (parquetWasmReady()) return;
  initParquetWasm(readFileSync(fileURLToPath(import.meta.resolve('parquet-wasm/esm/parquet_wasm_bg.wasm'))));
}

/**
 * The batch host on node:fs (Node, Bun and Deno all have `fs.openAsBlob`). parquet-wasm is
 * instantiated in this thread on the first `blob()` (a thread that only plans never does).
 */
export function nodeBatchHost(): BatchHost {
  return {
    open: openAsyncBuffer,
    blob: (path) => { loadParquetWasm(); return openAsBlob(path); },
    parquetWasm: loadParquetWasm,
    featureStore: openFeatureStore,
    writeAtomic,
    removeTemp,
    list: async (dir) => {
      try {
        return await readdir(dir);
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') return [];
        throw e;
      }
    },
    readText: async (path) => {
      try {
        return await readFile(path, 'utf8');
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') return undefined;
        throw e;
      }
    },
  };
}

/**
 * Expands an input pattern: a file, a directory (its `*.parquet`), or a path whose segments
 * hold `*` / `?` wildcards (`**` matches any depth). Sorted, absolute, unique.
 */
export async function expandInputs(pattern: string): Promise<string[]> {
  const abs = resolve(pattern);
  if (!/[*?]/.test(abs)) {
    const s = await stat(abs).catch(() => undefined);
    if (!s) return [];
    if (s.isDirectory()) return (await readdir(abs)).filter((n) => n.endsWith('.parquet')).sort().map((n) => join(abs, n));
    return [abs];
  }
  const parts = abs.split('/').filter(Boolean);
  const out = new Set<string>();
  await walk('/', parts, out);
  return [...out].sort();
}

async function walk(dir: string, parts: string[], out: Set<string>): Promise<void> {
  if (parts.length === 0) return;
  const [head, ...rest] = parts as [string, ...string[]];
  if (!/[*?]/.test(head)) {
    const p = join(dir, head);
    if (rest.length === 0) { if (await stat(p).then((s) => s.isFile(), () => false)) out.add(p); return; }
    return walk(p, rest, out);
  }
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  if (head === '**') {
    await walk(dir, rest, out);
    for (const e of entries) if (e.isDirectory()) await walk(join(dir, e.name), parts, out);
    return;
  }
  const re = new RegExp(`^${head.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  for (const e of entries) {
    if (!re.test(e.name) || TEMP.test(e.name)) continue;
    const p = join(dir, e.name);
    if (rest.length === 0) { if (e.isFile()) out.add(p); } else if (e.isDirectory()) await walk(p, rest, out);
  }
}
