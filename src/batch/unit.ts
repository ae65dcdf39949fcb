/**
 * One work unit end to end: read its rows column-wise, keep the rows above the watermark
 * (incremental runs), score, validate, encode and write each output file atomically.
 * Runs the same in a worker thread or in the main thread; file access is injected.
 * @module
 */
import { parquetMetadataAsync, parquetScan, type AsyncBuffer, type DecodedArray, type FileMetaData } from 'hyparquet';
import { isOmniserveError, messageOf } from '../errors.ts';
import type { Model } from '../core/model.ts';
import { columnSpec, encodeUnit, take, type OutputContext } from './output.ts';
import { toWatermark, type WorkUnit } from './plan.ts';
import { scoreColumns, validateScores, type FeatureInput } from './score.ts';
import { statsOf, type PredictionStats } from './stats.ts';

/** File access a unit needs. `writeAtomic` must leave either the old file or the whole new one. */
export interface BatchFiles {
  open(path: string): Promise<AsyncBuffer>;
  writeAtomic(path: string, bytes: Uint8Array): Promise<void>;
}

/** How every unit of a run is processed. */
export interface UnitSettings extends Omit<OutputContext, 'timestamp'> {
  readonly outDir: string;
  /** ISO time of the run's start; every row of a run carries the same one. */
  readonly timestamp: string;
  readonly batchSize: number;
  readonly validation: 'fail' | 'off';
  /** Incremental runs: only rows whose `column` is above `above` (no bound: every row). */
  readonly watermark?: { readonly column: string; readonly above?: number };
}

/** One file written for a unit. */
export interface UnitOutput {
  readonly path: string;
  readonly partition: string;
  readonly rows: number;
  readonly stats: PredictionStats;
}

/** A unit's outcome. `error` set: nothing of it counts, and a resumed run tries it again. */
export interface UnitResult {
  readonly id: string;
  readonly file: string;
  readonly rowStart: number;
  readonly rowEnd: number;
  /** Rows scored and written (incremental: those above the watermark). */
  readonly rows: number;
  readonly outputs: readonly UnitOutput[];
  readonly stats: PredictionStats;
  /** Largest watermark-column value among the rows written. */
  readonly maxWatermark?: number;
  readonly error?: { readonly code: string; readonly message: string };
}

/** Keeps parsed footers per file so a worker reads each file's metadata once. */
export class UnitRunner {
  readonly #meta = new Map<string, Promise<{ file: AsyncBuffer; metadata: FileMetaData }>>();
  constructor(readonly model: Model, readonly fi: FeatureInput, readonly files: BatchFiles, readonly s: UnitSettings) {}

  /** Processes `unit`; failures come back as a result with `error`, never as a rejection. */
  async run(unit: WorkUnit): Promise<UnitResult> {
    const base = { id: unit.id, file: unit.file, rowStart: unit.rowStart, rowEnd: unit.rowEnd };
    try {
      return { ...base, ...(await this.#run(unit)) };
    } catch (e) {
      const code = isOmniserveError(e) ? e.code : (e as { code?: string }).code ?? 'UNIT_FAILED';
      return { ...base, rows: 0, outputs: [], stats: statsOf(new Float64Array(0)), error: { code, message: `${unit.file} rows ${unit.rowStart}..${unit.rowEnd}: ${messageOf(e)}` } };
    }
  }

  async #run(unit: WorkUnit): Promise<Omit<UnitResult, keyof WorkUnit | 'file'>> {
    const { file, metadata } = await this.#open(unit.file);
    const specs = metadata.schema.slice(1).filter((e) => e.num_children === undefined).map(columnSpec);
    const names = specs.map((c) => c.name);
    const scan = await parquetScan({ file, metadata, columns: names });
    let columns: Record<string, DecodedArray> = {};
    for (const name of names) columns[name] = await scan.readColumn({ column: name, rowStart: unit.rowStart, rowEnd: unit.rowEnd });
    let rows = unit.rowEnd - unit.rowStart;
    let maxWatermark: number | undefined;
    const wm = this.s.watermark;
    if (wm) {
      const col = columns[wm.column]!;
      const keep: number[] = [];
      for (let i = 0; i < rows; i++) {
        const x = toWatermark(col[i]);
        if (x === undefined || (wm.above !== undefined && !(x > wm.above))) continue;
        keep.push(i);
        if (maxWatermark === undefined || x > maxWatermark) maxWatermark = x;
      }
      if (keep.length < rows) {
        columns = Object.fromEntries(names.map((n) => [n, take(columns[n]!, keep)]));
        rows = keep.length;
      }
    }
    if (rows === 0) return { rows: 0, outputs: [], stats: statsOf(new Float64Array(0)) };
    const scores = await scoreColumns(this.model, this.fi, columns, rows, this.s.batchSize, unit.rowStart);
    if (this.s.validation === 'fail') {
      const report = validateScores(scores, unit.rowStart);
      if (report) throw Object.assign(new Error(report), { code: 'INVALID_OUTPUT' });
    }
    const parts = encodeUnit(columns, specs, scores, { ...this.s, timestamp: new Date(this.s.timestamp) });
    const outputs: UnitOutput[] = [];
    for (const p of parts) {
      const path = `${this.s.outDir}/${p.partition ? `${p.partition}/` : ''}part-${this.s.runId.slice(0, 8)}-${unit.id}.parquet`;
      await this.files.writeAtomic(path, p.bytes);
      outputs.push({ path, partition: p.partition, rows: p.rows, stats: p.stats });
    }
    return { rows, outputs, stats: statsOf(scores.prediction), ...(maxWatermark === undefined ? {} : { maxWatermark }) };
  }

  #open(path: string): Promise<{ file: AsyncBuffer; metadata: FileMetaData }> {
    let p = this.#meta.get(path);
    if (!p) {
      p = this.files.open(path).then(async (file) => ({ file, metadata: await parquetMetadataAsync(file) }));
      this.#meta.set(path, p);
      p.catch(() => this.#meta.delete(path));
    }
    return p;
  }
}
