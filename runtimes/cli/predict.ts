/**
 * `omniserve predict`: scores JSON lines (a file or stdin) and prints one JSON line per row
 * with every model output by name, plus prediction/probability when configured. A bad row
 * gets an error line in its place; the other rows are still scored.
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { isOmniserveError, messageOf, parseBackendRequest, type Engine, type FeatureRecord, type Model, type PredictionResult } from '../../src/index.ts';
import { resolveModelArg } from './bundled.ts';
import { readLines, write } from './io.ts';

/** Options of `omniserve predict`. */
export interface PredictOptions {
  readonly model: string;
  readonly backend?: string;
  readonly input?: string;
  readonly config?: string;
  readonly version?: string;
  readonly batchSize: number;
}

type Row = { line: number; record?: FeatureRecord; error?: { error: string; code: string } };

/** Runs the command; returns the exit code (0 all scored, 3 some rows failed). */
export async function predictCommand(engine: Engine, o: PredictOptions, io: { stdin: Readable; stdout: Writable; stderr: Writable }): Promise<number> {
  const config = o.config === undefined ? undefined : JSON.parse(await readFile(o.config, 'utf8'));
  const model = await engine.models.load({
    source: resolveModelArg(o.model), config, version: o.version, backend: parseBackendRequest(o.backend),
  });
  const t0 = performance.now();
  let scored = 0;
  let failed = 0;
  let pending: Row[] = [];
  let lineNo = 0;
  const flush = async () => {
    const out = await scoreRows(model, pending);
    for (const line of out) {
      if ('error' in line) failed++;
      else scored++;
    }
    await write(io.stdout, out.map((l) => JSON.stringify(l)).join('\n') + '\n');
    pending = [];
  };
  for await (const text of readLines(o.input, io.stdin)) {
    lineNo++;
    if (text.trim() === '') continue;
    pending.push(parseRow(text, lineNo));
    if (pending.length >= o.batchSize) await flush();
  }
  if (pending.length) await flush();
  const secs = (performance.now() - t0) / 1000;
  await write(io.stderr, `omniserve predict: ${scored} rows scored, ${failed} failed, model ${model.name}@${model.version} on ${model.backend.id}, ${Math.round(scored / Math.max(secs, 1e-9))} rows/s\n`);
  return failed > 0 ? 3 : 0;
}

function parseRow(text: string, line: number): Row {
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      return { line, error: { error: `line ${line}: expected a JSON object`, code: 'INVALID_REQUEST' } };
    }
    return { line, record: v as FeatureRecord };
  } catch (e) {
    return { line, error: { error: `line ${line}: malformed JSON: ${messageOf(e)}`, code: 'INVALID_JSON' } };
  }
}

type OutLine = Record<string, unknown>;

async function scoreRows(model: Model, rows: Row[]): Promise<OutLine[]> {
  const good = rows.filter((r) => r.record !== undefined);
  let results: (PredictionResult | { error: string; code: string })[] | undefined;
  if (good.length) {
    try {
      results = await model.predict(good.map((r) => r.record!));
    } catch (e) {
      if (!isOmniserveError(e)) throw e;
      // One bad row fails the batch: score row by row to find it and keep the rest.
      results = [];
      for (const r of good) {
        try {
          results.push((await model.predict([r.record!]))[0]!);
        } catch (err) {
          if (!isOmniserveError(err)) throw err;
          // Scored alone, the row is "row 0": the line number is the useful position.
          results.push({ error: `line ${r.line}: ${err.message.replace(/^row 0: /, '')}`, code: err.code });
        }
      }
    }
  }
  let k = 0;
  return rows.map((r) => {
    if (r.error) return { line: r.line, ...r.error };
    const res = results![k++]!;
    if ('error' in res) return { line: r.line, ...res };
    const id = r.record!['id'];
    const { outputs, ...post } = res;
    return { ...(id !== undefined ? { id } : {}), ...outputs, ...post };
  });
}
