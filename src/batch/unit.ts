/**
 * One work unit end to end: read its rows column-wise, keep the rows above the watermark
 * (incremental runs), score, validate, encode and write each output file atomically.
 * Runs the same in a worker thread or in the main thread; file access is injected.
 * @module
 */
import { parquetMetadataAsync, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { Errors, isOmniserveError, messageOf } from '../errors.ts';
import type { Model } from '../core/model.ts';
import * as arrow from 'apache-arrow/Arrow.dom';
import { bytesFile, decodeRowGroup, encodeParquet, firstNull, numericValues, openParquet, stringValues, predictionColumns, readRows, takeRows, type ParquetSource } from './arrow-io.ts';
import { cellValue, encodeUnit, partitionGroups, type OutputContext } from './output.ts';
import { canCopy, encodedColumnsOf, rowGroupRange, spliceParquet } from './splice.ts';
import { LITTLE_ENDIAN, predictionChunks, type EncodedColumn } from './new-columns.ts';
import { toWatermark, type WorkUnit } from './plan.ts';
import type { EnrichSpec } from './config.ts';
import { enrichKey, enrichTable } from './enrich.ts';
import type { FeatureStore } from '../features/types.ts';
import { scoreColumns, validateScores, type FeatureColumn, type FeatureInput } from './score.ts';
import { plainValues } from './plain-pages.ts';
import { statsOf, type PredictionStats } from './stats.ts';

/** A file open for ranged reads. */
export interface RangeFile extends AsyncBuffer {
  /**
   * Bytes [start, end) read into `into` (at its start; it holds at least end - start bytes);
   * answers the view of what was read. Lets a runner reuse its buffers from unit to unit
   * instead of allocating (and page-faulting in) a fresh row group's worth each time.
   */
  read?(start: number, end: number, into: ArrayBuffer): Promise<Uint8Array>;
}

/** File access a unit needs. `writeAtomic` must leave either the old file or the whole new one. */
export interface BatchFiles {
  /** Ranged reads of a file (footers: planning, row-group statistics). */
  open(path: string): Promise<RangeFile>;
  /** The file as a Blob read lazily by range (row groups are read through it); makes parquet-wasm usable in this thread. */
  blob(path: string): Promise<Blob>;
  /** Makes parquet-wasm usable in this thread (for encoding) when no `blob` was opened yet. */
  parquetWasm(): void;
  /** A read-only feature store for `enrich` (hosts without one cannot enrich). */
  featureStore?(spec: EnrichSpec['store']): Promise<FeatureStore>;
  writeAtomic(path: string, bytes: Uint8Array | readonly Uint8Array[]): Promise<void>;
}

/** How every unit of a run is processed. */
export interface UnitSettings extends Omit<OutputContext, 'timestamp'> {
  readonly outDir: string;
  /** ISO time of the run's start; every row of a run carries the same one. */
  readonly timestamp: string;
  readonly batchSize: number;
  readonly validation: 'fail' | 'warn' | 'off';
  /** Incremental runs: only rows whose `column` is above `above` (no bound: every row). */
  readonly watermark?: { readonly column: string; readonly above?: number };
  /** Columns from the feature store, by a key column. */
  readonly enrich?: EnrichSpec;
  /** false: always decode and re-encode every column (default: copy whole row groups' column chunks). */
  readonly copyColumns?: boolean;
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
  /** `validation: "warn"`: what failed validation (the unit was written anyway). */
  readonly warning?: string;
  /** Where the unit's time went, in milliseconds (read includes enrichment; infer is part of score). */
  readonly ms?: { readonly read: number; readonly score: number; readonly infer: number; readonly encode: number; readonly write: number };
  readonly error?: { readonly code: string; readonly message: string };
}

/** An input file open for units: its row-group starts and its reader. */
interface OpenInput {
  readonly file: RangeFile;
  readonly metadata: FileMetaData;
  readonly groupStarts: readonly number[];
  /** parquet-wasm's reader of the file, opened on first use (whole-row-group units never need it). */
  source(): Promise<ParquetSource>;
  close(): void;
}

/**
 * hyparquet's errors for what it does not implement, as the footer says it (a compression
 * codec, a type), as opposed to damaged bytes: a garbled page header also reads as an
 * "unsupported" page type or encoding, and parquet-wasm must never see such pages.
 */
const UNSUPPORTED = /parquet unsupported compression codec|parquet unsupported type|parquet (bson|interval|file_path) not supported/;

/** Files kept open per runner (units mostly come file by file). */
const OPEN_FILES = 4;
/** Buffers a runner keeps for its next units (a unit takes up to four: row group, tensor, two outputs). */
const SPARE_BUFFERS = 8;

/**
 * The large buffers of one unit (row-group bytes, tensor, prediction arrays), taken from the
 * runner's spares and given back when the unit is done. Allocating them fresh per unit costs
 * page faults and zeroing of ~35 MB, and makes V8 run major GCs for the external memory.
 */
export class UnitBuffers {
  readonly #taken: ArrayBuffer[] = [];
  constructor(readonly spare: ArrayBuffer[]) {}

  /** A buffer of at least `bytes` bytes, contents undefined. */
  take(bytes: number): ArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.spare.length; i++) {
      const b = this.spare[i]!;
      if (b.byteLength >= bytes && (best < 0 || b.byteLength < this.spare[best]!.byteLength)) best = i;
    }
    const buf = best >= 0 ? this.spare.splice(best, 1)[0]! : new ArrayBuffer(bytes);
    this.#taken.push(buf);
    return buf;
  }

  /**
   * An allocator of 8-byte-aligned regions out of one buffer of `capacity` bytes, taken on
   * first use; a region that does not fit gets its own buffer.
   */
  slab(capacity: number): (bytes: number) => Uint8Array {
    let buf: ArrayBuffer | undefined;
    let used = 0;
    return (bytes) => {
      buf ??= this.take(capacity);
      if (used + bytes > buf.byteLength) return new Uint8Array(this.take(bytes), 0, bytes);
      const at = used;
      used += Math.ceil(bytes / 8) * 8;
      return new Uint8Array(buf, at, bytes);
    };
  }

  /** Gives every taken buffer back (nothing of the unit may use them afterwards). */
  release(): void {
    for (const b of this.#taken.splice(0)) {
      this.spare.push(b);
      if (this.spare.length > SPARE_BUFFERS) this.spare.sort((x, y) => y.byteLength - x.byteLength).pop();
    }
  }
}

/** Keeps open inputs per file so a worker reads each file's footer once. */
export class UnitRunner {
  readonly #open = new Map<string, Promise<OpenInput>>();
  readonly #spare: ArrayBuffer[] = [];
  #store: Promise<FeatureStore> | undefined;
  /** The features that feed a string input: read, and enriched, as string columns. */
  readonly #textFeatures: ReadonlySet<string>;

  constructor(readonly model: Model, readonly fi: FeatureInput, readonly files: BatchFiles, readonly s: UnitSettings) {
    this.#textFeatures = new Set(fi.inputs.filter((ic) => ic.dtype === 'string').flatMap((ic) => ic.features));
  }

  /** Processes `unit`; failures come back as a result with `error`, never as a rejection. */
  async run(unit: WorkUnit): Promise<UnitResult> {
    const base = { id: unit.id, file: unit.file, rowStart: unit.rowStart, rowEnd: unit.rowEnd };
    const buffers = new UnitBuffers(this.#spare);
    try {
      return { ...base, ...(await this.#run(unit, buffers)) };
    } catch (e) {
      const code = isOmniserveError(e) ? e.code : (e as { code?: string }).code ?? 'UNIT_FAILED';
      return { ...base, rows: 0, outputs: [], stats: statsOf(new Float64Array(0)), error: { code, message: `${unit.file} rows ${unit.rowStart}..${unit.rowEnd}: ${messageOf(e)}` } };
    } finally {
      buffers.release();
    }
  }

  /** Frees the open inputs. */
  async close(): Promise<void> {
    const store = this.#store;
    this.#store = undefined;
    await (await store?.catch(() => undefined))?.close();
    const open = [...this.#open.values()];
    this.#open.clear();
    for (const p of open) (await p.catch(() => undefined))?.close();
  }

  async #run(unit: WorkUnit, buffers: UnitBuffers): Promise<Omit<UnitResult, keyof WorkUnit | 'file'>> {
    const t0 = performance.now();
    const input = await this.#input(unit.file);
    // A unit never spans row groups (planUnits cuts inside them).
    let rg = 0;
    while (rg + 1 < input.groupStarts.length && input.groupStarts[rg + 1]! <= unit.rowStart) rg++;
    const offset = unit.rowStart - input.groupStarts[rg]!;
    const group = input.metadata.row_groups[rg]!;
    // A whole row group may be copied chunk by chunk: then only the columns scoring needs are decoded.
    const copyable = this.s.copyColumns !== false && offset === 0 && unit.rowEnd - unit.rowStart === Number(group.num_rows) && canCopy(input.metadata, group);
    const enrich = this.s.enrich;
    const wm = this.s.watermark;
    const needed = [...new Set([...this.fi.features.filter((f) => !enrich?.fields.includes(f)), ...(wm ? [wm.column] : []),
      ...(this.s.partitionBy ? [this.s.partitionBy] : []), ...(enrich ? [enrich.keyColumn] : [])])];
    const [lo, hi] = rowGroupRange(group);
    const rgBytes = !copyable ? undefined
      : input.file.read ? await input.file.read(lo, hi, buffers.take(hi - lo))
      : new Uint8Array(await input.file.slice(lo, hi));
    if (rgBytes && rgBytes.length !== hi - lo) throw new Error(`read ${rgBytes.length} of the row group's ${hi - lo} bytes (file truncated?)`);
    const total = unit.rowEnd - unit.rowStart;
    // Whole row group, no watermark: float features are views of their pages, no decoder.
    const direct = new Map<string, Float32Array | Float64Array>();
    if (rgBytes && !wm) {
      const copies = buffers.slab(this.fi.features.length * total * 8);
      for (const f of this.fi.features) {
        if (enrich?.fields.includes(f) || this.#textFeatures.has(f)) continue;
        const k = input.metadata.schema.findIndex((e, i) => i > 0 && e.name === f);
        const chunk = group.columns.find((c) => c.meta_data?.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === f);
        let values: Float32Array | Float64Array | undefined;
        try {
          values = k > 0 && chunk ? plainValues(rgBytes, lo, chunk, input.metadata.schema[k]!, total, copies) : undefined;
        } catch (e) {
          throw corruptError(e); // a page header that does not parse
        }
        if (values) direct.set(f, values);
      }
    }
    const filled = new Set(direct.keys());
    const decode = needed.filter((c) => !filled.has(c));
    let table = await corrupt(async () => rgBytes ? (decode.length ? await decodeRowGroup(input.metadata, input.groupStarts[rg]!, total, rgBytes, lo, input.file.byteLength, decode)
      // A codec or type hyparquet lacks goes to parquet-wasm; damaged pages do not (its Rust
      // panics on them, uncaught, and take the thread down).
      .catch(async (e: unknown) => { if (!UNSUPPORTED.test(messageOf(e))) throw e; return (await input.source()).read(rg, offset, total, decode); })
      : new arrow.Table())
      : await this.#rows(input, rg, offset, total));
    let rows = decode.length || !rgBytes ? table.numRows : total;
    if (rows !== total) throw new Error(`read ${rows} rows, expected ${total}`);
    let maxWatermark: number | undefined;
    // File row of each kept row, when the watermark dropped some (errors name file rows).
    let kept: Uint32Array | undefined;
    if (wm) {
      const col = table.getChild(wm.column)!;
      const keep = new Uint32Array(rows);
      let k = 0;
      for (let i = 0; i < rows; i++) {
        const x = toWatermark(cellValue(col, i));
        if (x === undefined || (wm.above !== undefined && !(x > wm.above))) continue;
        keep[k++] = i;
        if (maxWatermark === undefined || x > maxWatermark) maxWatermark = x;
      }
      if (k < rows) {
        kept = keep.subarray(0, k);
        table = takeRows(table, kept);
        rows = k;
      }
    }
    if (rows === 0) return { rows: 0, outputs: [], stats: statsOf(new Float64Array(0)) };
    if (enrich) table = await enrichTable(table, enrich, await this.#featureStore(enrich), this.#textFeatures);
    const fileRow = (i: number) => unit.rowStart + (kept ? kept[i]! : i);
    const t1 = performance.now();
    const cols = this.fi.features.map((f): FeatureColumn => {
      const d = direct.get(f);
      if (d) return d;
      const v = table.getChild(f)!;
      const text = this.#textFeatures.has(f);
      const nul = firstNull(v);
      if (nul >= 0) {
        const from = enrich?.fields.includes(f) ? ` (the feature store has no "${f}" for ${enrichKey(table, enrich, nul) ?? `a null ${enrich.keyColumn}`})` : '';
        throw Errors.INVALID_FEATURE_VALUE(`row ${fileRow(nul)}: column "${f}" is null${from}; features must be ${text ? 'strings' : 'finite numbers'}`, { row: fileRow(nul), feature: f });
      }
      const values = text ? stringValues(v) : numericValues(v);
      if (!values) throw Errors.INVALID_FEATURE_VALUE(`column "${f}" is ${v.type}; ${text ? 'it feeds a string input: features must be strings' : 'features must be numbers'}`, { feature: f });
      return values;
    });
    const scores = await scoreColumns(this.model, this.fi, cols, rows, this.s.batchSize, kept ? 0 : unit.rowStart, buffers);
    const report = this.s.validation === 'off' ? undefined : validateScores(scores, kept ? 0 : unit.rowStart);
    if (report && this.s.validation === 'fail') throw Errors.INVALID_OUTPUT(report);
    const stats = statsOf(scores.prediction);
    const t2 = performance.now();
    const ctx = { ...this.s, timestamp: new Date(this.s.timestamp) };
    const pathOf = (partition: string) => `${this.s.outDir}/${partition ? `${partition}/` : ''}part-${this.s.runId.slice(0, 8)}-${unit.id}.parquet`;
    const outputs: UnitOutput[] = [];
    const groups = this.s.partitionBy ? partitionGroups(table, this.s.partitionBy) : undefined;
    let t3: number;
    if (rgBytes && !kept && (!groups || groups.size === 1)) {
      // One file with every row of the group: the input's column chunks as they are, plus the new columns.
      const partition = groups ? [...groups.keys()][0]! : '';
      const columns = { ...scores, runId: this.s.runId, timestamp: ctx.timestamp.getTime() };
      let added: EncodedColumn[];
      if (this.s.compression === 'UNCOMPRESSED' && !enrich && LITTLE_ENDIAN) added = predictionChunks(rows, columns);
      else {
        this.files.parquetWasm();
        const extra: Record<string, arrow.Vector> = {};
        for (const f of enrich?.fields ?? []) extra[f] = table.getChild(f)!;
        Object.assign(extra, predictionColumns(rows, columns));
        added = encodedColumnsOf(encodeParquet(new arrow.Table(extra), this.s.compression), group.num_rows);
      }
      const pieces = spliceParquet(input.metadata, group, rgBytes, added, 'omniserve batch (column chunks copied; new columns added)');
      t3 = performance.now();
      await this.files.writeAtomic(pathOf(partition), pieces);
      outputs.push({ path: pathOf(partition), partition, rows, stats });
    } else {
      if (rgBytes) {
        // Rows dropped or split over partitions: decode every column after all.
        let full = await corrupt(async () => this.#rows(input, rg, offset, total, { bytes: rgBytes, lo }));
        if (kept) full = takeRows(full, kept);
        const cols: Record<string, arrow.Vector> = {};
        for (const f of full.schema.fields) cols[f.name] = full.getChild(f.name)!;
        for (const f of enrich?.fields ?? []) cols[f] = table.getChild(f)!;
        table = new arrow.Table(cols);
      }
      this.files.parquetWasm();
      const parts = encodeUnit(table, scores, ctx);
      t3 = performance.now();
      for (const p of parts) {
        await this.files.writeAtomic(pathOf(p.partition), p.bytes);
        outputs.push({ path: pathOf(p.partition), partition: p.partition, rows: p.rows, stats: p.stats });
      }
    }
    const t4 = performance.now();
    const ms = { read: Math.round(t1 - t0), score: Math.round(t2 - t1), infer: Math.round(scores.inferMs ?? 0), encode: Math.round(t3 - t2), write: Math.round(t4 - t3) };
    return { rows, outputs, stats, ...(maxWatermark === undefined ? {} : { maxWatermark }), ...(report ? { warning: `INVALID_OUTPUT: ${report}` } : {}), ms };
  }

  /**
   * Every column of rows [offset, offset + rows) of row group `rg` (read from `inMemory`,
   * the group's bytes from file offset `lo`, when given), decoded by hyparquet so that a
   * damaged page is an error here, never a parquet-wasm panic. parquet-wasm gives the Arrow
   * schema (from the footer) and only two things more: the columns of types `readRows` does
   * not build, read once hyparquet decoded their pages; and the whole range when hyparquet
   * lacks the file's compression codec or a column's type (see UNSUPPORTED).
   */
  async #rows(input: OpenInput, rg: number, offset: number, rows: number, inMemory?: { bytes: Uint8Array; lo: number }): Promise<arrow.Table> {
    const source = await input.source();
    const fields = source.schema().fields;
    const file = inMemory ? bytesFile(inMemory.bytes, inMemory.lo, input.file.byteLength) : input.file;
    let got: Map<string, arrow.Vector | undefined>;
    try {
      got = await readRows(file, input.metadata, fields, input.groupStarts[rg]! + offset, rows);
    } catch (e) {
      if (!UNSUPPORTED.test(messageOf(e))) throw e;
      return source.read(rg, offset, rows);
    }
    const rest = fields.filter((f) => !got.get(f.name)).map((f) => f.name);
    const other = rest.length ? await source.read(rg, offset, rows, rest) : undefined;
    const cols: Record<string, arrow.Vector> = {};
    for (const f of fields) cols[f.name] = got.get(f.name) ?? other!.getChild(f.name)!;
    return new arrow.Table(cols);
  }

  #featureStore(spec: EnrichSpec): Promise<FeatureStore> {
    if (!this.#store) {
      const make = this.files.featureStore;
      this.#store = make ? make.call(this.files, spec.store) : Promise.reject(new Error('this host has no feature store for enrich'));
      this.#store.catch(() => { this.#store = undefined; });
    }
    return this.#store;
  }

  #input(path: string): Promise<OpenInput> {
    let p = this.#open.get(path);
    if (p) return p;
    p = (async () => {
      const file = await this.files.open(path);
      const metadata = await parquetMetadataAsync(file);
      const groupStarts: number[] = [];
      let n = 0;
      for (const g of metadata.row_groups) { groupStarts.push(n); n += Number(g.num_rows); }
      let source: Promise<ParquetSource> | undefined;
      return {
        file, metadata, groupStarts,
        source: () => (source ??= this.files.blob(path).then(openParquet)),
        close: () => { void source?.then((s) => s.close(), () => {}); },
      };
    })();
    this.#open.set(path, p);
    p.catch(() => this.#open.delete(path));
    if (this.#open.size > OPEN_FILES) {
      const [oldest, q] = this.#open.entries().next().value!;
      this.#open.delete(oldest);
      void q.then((o) => o.close(), () => {});
    }
    return p;
  }
}

/**
 * Runs a decoding step; what the Parquet decoders throw becomes CORRUPT_PARQUET (an
 * OmniserveError, or an error with a code of its own such as a file system's, is kept).
 */
async function corrupt<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    throw corruptError(e);
  }
}

function corruptError(e: unknown): unknown {
  if (isOmniserveError(e) || typeof (e as { code?: unknown } | null)?.code === 'string') return e;
  return Errors.CORRUPT_PARQUET(`the pages could not be decoded: ${messageOf(e)}`);
}
