/**
 * Feature files → hashes: JSON, JSON lines, CSV and Parquet, parsed from bytes the host has
 * read (this module never touches a file system, so it runs on every host). Every problem
 * is INVALID_CONFIG naming the file and, where it helps, the row and column.
 * @module
 */
import { Errors, isOmniserveError, messageOf } from '../errors.ts';
import type { FeatureValues } from './types.ts';

/** Supported feature file formats. */
export type FeatureFileFormat = 'json' | 'jsonl' | 'csv' | 'parquet';

/** Options for {@link parseFeatureFile}. */
export interface FeatureFileOptions {
  /** Default: from the file name's extension. */
  format?: FeatureFileFormat;
  /** Column holding the entity id in row-shaped files (default 'id'). */
  keyColumn?: string;
  /** Keys are `${prefix}:${id}` (default 'user'); '' keeps the bare id. */
  prefix?: string;
}

/** One hash to store: key and features. */
export type FeatureEntry = [key: string, values: FeatureValues];

type Cell = string | number | boolean | null;
type Row = Record<string, unknown>;

const EXTENSIONS: Record<string, FeatureFileFormat> = {
  json: 'json', jsonl: 'jsonl', ndjson: 'jsonl', csv: 'csv', parquet: 'parquet', pq: 'parquet',
};

/** The format a file name implies; INVALID_CONFIG for an unknown extension. */
export function featureFileFormat(fileName: string): FeatureFileFormat {
  const ext = /\.([A-Za-z0-9]+)$/.exec(fileName)?.[1]?.toLowerCase() ?? '';
  const format = EXTENSIONS[ext];
  if (format === undefined) {
    throw Errors.INVALID_CONFIG(`${fileName}: cannot tell the feature file format from the name; use one of .${Object.keys(EXTENSIONS).join(', .')} or set format`,
      { file: fileName });
  }
  return format;
}

/**
 * Parses a feature file into `[key, values]` entries, ready for `setMany` or
 * `createMemoryFeatureStore`. A JSON object `{"user:1": {...}}` keeps its keys as they
 * are; every row-shaped file (JSON array, JSON lines, CSV, Parquet) is keyed by
 * `${prefix}:${row[keyColumn]}`. CSV cells that are unquoted numbers become numbers and
 * unquoted empty cells null; quoted cells stay strings.
 */
export async function parseFeatureFile(bytes: Uint8Array, fileName: string, options: FeatureFileOptions = {}): Promise<FeatureEntry[]> {
  const format = options.format ?? featureFileFormat(fileName);
  const ctx: Ctx = { file: fileName, keyColumn: options.keyColumn ?? 'id', prefix: options.prefix ?? 'user' };
  switch (format) {
    case 'json': return fromJson(decodeText(bytes, ctx), ctx);
    case 'jsonl': return fromJsonLines(decodeText(bytes, ctx), ctx);
    case 'csv': return fromCsv(decodeText(bytes, ctx), ctx);
    case 'parquet': return fromParquet(bytes, ctx);
    default:
      throw Errors.INVALID_CONFIG(`${fileName}: unknown feature file format "${String(format)}"`, { file: fileName });
  }
}

interface Ctx { file: string; keyColumn: string; prefix: string }

const invalid = (ctx: Ctx, problem: string, details: Record<string, unknown> = {}, cause?: unknown) =>
  Errors.INVALID_CONFIG(`${ctx.file}: ${problem}`, { file: ctx.file, ...details }, cause);

function decodeText(bytes: Uint8Array, ctx: Ctx): string {
  try {
    // fatal: a binary file given the wrong extension fails here, not as odd keys later.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw invalid(ctx, 'is not valid UTF-8 text', {}, e);
  }
}

function parseJson(text: string, ctx: Ctx, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalid(ctx, `${where}is not valid JSON (${messageOf(e)})`, {}, e);
  }
}

function fromJson(text: string, ctx: Ctx): FeatureEntry[] {
  const doc = parseJson(text, ctx, '');
  if (Array.isArray(doc)) return doc.map((row, i) => rowEntry(row, i + 1, ctx));
  if (doc === null || typeof doc !== 'object') {
    throw invalid(ctx, 'expected an object of hashes by key or an array of rows');
  }
  return Object.entries(doc as Row).map(([key, values]) => {
    if (values === null || typeof values !== 'object' || Array.isArray(values)) {
      throw invalid(ctx, `"${key}" is not an object of features`, { key });
    }
    return [key, scalars(values as Row, key, ctx)];
  });
}

function fromJsonLines(text: string, ctx: Ctx): FeatureEntry[] {
  const out: FeatureEntry[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    out.push(rowEntry(parseJson(line, ctx, `line ${i + 1} `), i + 1, ctx));
  });
  return out;
}

function fromCsv(text: string, ctx: Ctx): FeatureEntry[] {
  const records = parseCsv(text, ctx);
  const header = records.shift();
  if (header === undefined) return [];
  const names = header.map((h) => (h instanceof Unquoted ? h.text : h));
  if (!names.includes(ctx.keyColumn)) {
    throw invalid(ctx, `has no key column "${ctx.keyColumn}"; its columns: ${names.join(', ')}`, { keyColumn: ctx.keyColumn, columns: names });
  }
  return records.map((cells, r) => {
    if (cells.length !== names.length) {
      throw invalid(ctx, `record ${r + 1} has ${cells.length} fields; the header has ${names.length}`, { record: r + 1 });
    }
    const row: Row = {};
    names.forEach((name, c) => {
      const cell = cells[c]!;
      // The key stays text ("007" is not 7); other unquoted numbers are numbers.
      row[name] = name !== ctx.keyColumn && cell instanceof Unquoted ? toNumberIfNumeric(cell.text) : cell instanceof Unquoted ? cell.text : cell;
    });
    return rowEntry(row, r + 1, ctx);
  });
}

/** An unquoted CSV cell, kept apart from quoted ones so only it is read as a number. */
class Unquoted {
  constructor(readonly text: string) {}
}

function toNumberIfNumeric(s: string): Cell {
  if (s === '') return null;
  const n = Number(s);
  return s.trim() !== '' && Number.isFinite(n) ? n : s;
}

/**
 * RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes; LF or CRLF
 * line ends; blank lines skipped. Small enough that a dependency would not pay its way.
 */
function parseCsv(text: string, ctx: Ctx): (Unquoted | string)[][] {
  const rows: (Unquoted | string)[][] = [];
  let row: (Unquoted | string)[] = [];
  let i = 0;
  const n = text.length;
  const endRow = () => {
    if (!(row.length === 1 && row[0] instanceof Unquoted && row[0].text === '')) rows.push(row);
    row = [];
  };
  while (i <= n) {
    if (text[i] === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q === -1) throw invalid(ctx, `unterminated quoted field in record ${rows.length + 1} (counting the header)`, { record: rows.length + 1 });
        value += text.slice(j, q);
        if (text[q + 1] === '"') { value += '"'; j = q + 2; continue; }
        i = q + 1;
        break;
      }
      row.push(value);
      if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
        throw invalid(ctx, `text after a closing quote in record ${rows.length + 1} (counting the header)`, { record: rows.length + 1 });
      }
    } else {
      const start = i;
      while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') i++;
      row.push(new Unquoted(text.slice(start, i)));
    }
    if (i >= n) { endRow(); break; }
    if (text[i] === ',') { i++; continue; }
    i += text[i] === '\r' && text[i + 1] === '\n' ? 2 : 1;
    endRow();
    if (i >= n) break;
  }
  return rows;
}

async function fromParquet(bytes: Uint8Array, ctx: Ctx): Promise<FeatureEntry[]> {
  // Loaded on demand: only Parquet users pay for the reader.
  const { parquetMetadata, parquetReadObjects, parquetSchema } = await import('hyparquet');
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let rows: Row[];
  try {
    const metadata = parquetMetadata(buffer);
    const columns = parquetSchema(metadata).children.map((c) => c.element.name);
    if (!columns.includes(ctx.keyColumn)) {
      throw invalid(ctx, `has no key column "${ctx.keyColumn}"; its columns: ${columns.join(', ')}`, { keyColumn: ctx.keyColumn, columns });
    }
    rows = await parquetReadObjects({ file: buffer, metadata });
  } catch (e) {
    if (isOmniserveError(e)) throw e;
    throw invalid(ctx, `is not a readable Parquet file (${messageOf(e)})`, {}, e);
  }
  return rows.map((row, i) => rowEntry(row, i + 1, ctx));
}

function rowEntry(row: unknown, n: number, ctx: Ctx): FeatureEntry {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) {
    throw invalid(ctx, `row ${n} is not an object`, { row: n });
  }
  const id = (row as Row)[ctx.keyColumn];
  if (id === undefined || id === null || id === '') {
    throw invalid(ctx, `row ${n} has no key column "${ctx.keyColumn}"`, { row: n, keyColumn: ctx.keyColumn });
  }
  if (typeof id !== 'string' && typeof id !== 'number' && typeof id !== 'bigint') {
    throw invalid(ctx, `row ${n}: key column "${ctx.keyColumn}" must be a string or number`, { row: n, keyColumn: ctx.keyColumn });
  }
  const key = ctx.prefix === '' ? String(id) : `${ctx.prefix}:${String(id)}`;
  return [key, scalars(row as Row, `row ${n}`, ctx)];
}

function scalars(row: Row, where: string, ctx: Ctx): FeatureValues {
  const out: Record<string, Cell> = {};
  for (const [column, v] of Object.entries(row)) {
    if (v === null || v === undefined) out[column] = null;
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[column] = v;
    else if (typeof v === 'bigint') out[column] = v >= Number.MIN_SAFE_INTEGER && v <= Number.MAX_SAFE_INTEGER ? Number(v) : String(v);
    // Timestamps as epoch milliseconds: a number a model can take.
    else if (v instanceof Date) out[column] = v.getTime();
    else {
      throw invalid(ctx, `${where}, column "${column}": nested values are not supported as features`, { column });
    }
  }
  return out;
}
