/**
 * Progress of a batch run: on a terminal a bar with rows/s and ETA redrawn in place;
 * otherwise one JSON line per event, for logs and tests to read.
 * @module
 */
import type { BatchEvent } from './run.ts';

/** Turns run events into text on `write`. `tty`: draw a bar, else structured lines. */
export function createProgress(write: (text: string) => void, tty: boolean, now = () => performance.now()): (e: BatchEvent) => void {
  const t0 = now();
  let total = 0;
  let rows = 0;
  let lastDraw = -Infinity;
  return (e) => {
    if (e.event === 'plan') total = e.rows;
    if (e.event === 'unit') rows += e.rows;
    const secs = (now() - t0) / 1000;
    const rate = secs > 0 ? rows / secs : 0;
    if (!tty) {
      write(JSON.stringify({ ts: new Date().toISOString(), ...e, ...(e.event === 'unit' ? { rows_done: rows, rows_per_s: Math.round(rate) } : {}) }) + '\n');
      return;
    }
    if (e.event !== 'unit') {
      if (e.event === 'input_failed') write(`\r\x1b[K${e.message}\n`);
      return;
    }
    if (!e.ok) write(`\r\x1b[Kunit ${e.id} failed: ${e.error}\n`);
    if (e.warning) write(`\r\x1b[Kunit ${e.id} written with a warning: ${e.warning}\n`);
    const last = e.done === e.todo;
    if (!last && now() - lastDraw < 100) return; // redraws cost more than they tell past 10/s
    lastDraw = now();
    write(`\r\x1b[K${bar(e.done / Math.max(1, e.todo), 30)} ${e.done}/${e.todo} units ${human(rows)} rows ${human(rate)} rows/s ETA ${eta(rate, total - rows)}${last ? '\n' : ''}`);
  };
}

function bar(f: number, width: number): string {
  const n = Math.round(Math.min(1, Math.max(0, f)) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}

function human(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${Math.round(n)}`;
}

function eta(rate: number, left: number): string {
  if (left <= 0) return '0s';
  if (!(rate > 0)) return '--';
  const s = Math.ceil(left / rate);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
