/**
 * Enrichment from the feature store: a unit's distinct keys (`<prefix>:<key column>`) are
 * looked up in bulk, `chunk` keys per `getMany` call (a few calls in flight), and the asked
 * fields become double columns of the unit's table (string columns for the fields that feed
 * a string input). A missing entity or field is null; a value that is not a number (for a
 * double column) is null too. Read-only: the store is never written.
 * @module
 */
import * as arrow from 'apache-arrow/Arrow.dom';
import type { FeatureStore, FeatureValues } from '../features/types.ts';
import type { EnrichSpec } from './config.ts';
import { cellValue } from './output.ts';

/** Calls to the store in flight at once per unit. */
const IN_FLIGHT = 4;

/** The store key of row `i`, or undefined when its key cell is null. */
export function enrichKey(table: arrow.Table, spec: EnrichSpec, i: number): string | undefined {
  const v = cellValue(table.getChild(spec.keyColumn)!, i);
  if (v === null || v === undefined) return undefined;
  return `${spec.prefix}:${v instanceof Date ? v.toISOString() : String(v)}`;
}

/** `table` plus one double column per `spec.fields` (a string column for those in `text`), filled from `store`. */
export async function enrichTable(table: arrow.Table, spec: EnrichSpec, store: FeatureStore, text: ReadonlySet<string> = new Set()): Promise<arrow.Table> {
  const rows = table.numRows;
  const slotOf = new Int32Array(rows).fill(-1);
  const keys: string[] = [];
  const index = new Map<string, number>();
  for (let i = 0; i < rows; i++) {
    const key = enrichKey(table, spec, i);
    if (key === undefined) continue;
    let s = index.get(key);
    if (s === undefined) { s = keys.length; keys.push(key); index.set(key, s); }
    slotOf[i] = s;
  }
  const found: (FeatureValues | null)[] = new Array(keys.length).fill(null);
  let next = 0;
  const lane = async () => {
    while (next < keys.length) {
      const start = next;
      next = Math.min(keys.length, next + spec.chunk);
      const got = await store.getMany(keys.slice(start, next));
      for (let j = 0; j < got.length; j++) found[start + j] = got[j] ?? null;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const cols: Record<string, arrow.Vector> = {};
  for (const f of table.schema.fields) cols[f.name] = table.getChild(f.name)!;
  for (const field of spec.fields) {
    if (text.has(field)) {
      const values = Array.from({ length: rows }, (_, i) => {
        const v = slotOf[i]! < 0 ? undefined : found[slotOf[i]!]?.[field];
        return v === null || v === undefined ? null : String(v);
      });
      cols[field] = arrow.vectorFromArray(values, new arrow.Utf8());
      continue;
    }
    const data = new Float64Array(rows);
    const valid = new Uint8Array(Math.ceil(rows / 8));
    let nulls = 0;
    for (let i = 0; i < rows; i++) {
      const s = slotOf[i]!;
      const x = s < 0 ? undefined : toNumber(found[s]?.[field]);
      if (x === undefined) { nulls++; continue; }
      data[i] = x;
      valid[i >> 3]! |= 1 << (i & 7);
    }
    cols[field] = arrow.makeVector(arrow.makeData({ type: new arrow.Float64(), length: rows, data, nullCount: nulls, nullBitmap: nulls ? valid : new Uint8Array(0) }));
  }
  return new arrow.Table(cols);
}

function toNumber(v: string | number | boolean | null | undefined): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '') {
    const x = Number(v);
    return Number.isFinite(x) ? x : undefined;
  }
  return undefined;
}
