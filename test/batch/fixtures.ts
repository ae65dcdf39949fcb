/**
 * Batch test inputs: Parquet files written from the breast-cancer JSON lines (569 rows,
 * 30 features), with an `id`, an event time `ts` and a `segment` to partition by.
 * @module
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MODEL = join(ROOT, 'test/fixtures/models/breast-cancer.onnx');
export const MODEL_CONFIG = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/models/breast-cancer.config.json'), 'utf8')) as { inputs: { features: { features: string[] } } };
export const FEATURES = MODEL_CONFIG.inputs.features.features;
export const RECORDS = readFileSync(join(ROOT, 'test/fixtures/data/breast-cancer.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

/** A fresh temporary directory. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'omniserve-batch-'));
}

/** Writes rows `ids` of the fixture (ids past 568 reuse features) as a Parquet file with `rowGroupSize` rows per group. */
export function writeInput(path: string, ids: readonly number[], opts: { rowGroupSize?: number; drop?: string; ts?: (id: number) => number } = {}): void {
  const cols: ColumnSource[] = [
    { name: 'id', data: BigInt64Array.from(ids, (i) => BigInt(i)) },
    { name: 'ts', data: Float64Array.from(ids, opts.ts ?? ((i) => 1000 + i)) },
    { name: 'segment', data: ids.map((i) => (i % 3 === 0 ? 'a' : i % 3 === 1 ? 'b' : 'c')), type: 'STRING' },
  ];
  for (const f of FEATURES) if (f !== opts.drop) cols.push({ name: f, data: Float64Array.from(ids, (i) => RECORDS[i % RECORDS.length]![f]!) });
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, new Uint8Array(parquetWriteBuffer({ columnData: cols, rowGroupSize: opts.rowGroupSize ?? 100 })));
}

/** Every row of every `part-*.parquet` under `dir`. */
export async function readOutput(dir: string): Promise<Record<string, unknown>[]> {
  const { readdirSync, statSync } = await import('node:fs');
  const rows: Record<string, unknown>[] = [];
  const walk = async (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) await walk(p);
      else if (/^part-.*\.parquet$/.test(n)) rows.push(...(await parquetReadObjects({ file: await asyncBufferFromFile(p) })).map((r) => ({ ...r, _file: p })));
    }
  };
  await walk(dir);
  return rows;
}

/** A batch config file in `dir`. */
export function writeConfig(dir: string, batch: Record<string, unknown> = {}): string {
  const p = join(dir, 'batch.json');
  writeFileSync(p, JSON.stringify({ batch: { model: { path: MODEL }, ...batch } }));
  return p;
}
