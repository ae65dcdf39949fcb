import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgress } from '../../src/batch/progress.ts';

test('progress: a bar with rows/s and ETA on a terminal, JSON lines otherwise', () => {
  let clock = 0;
  const tty: string[] = [];
  const bar = createProgress((t) => tty.push(t), true, () => clock);
  bar({ event: 'plan', runId: 'r', units: 2, todo: 2, rows: 2000, resumed: false, failedInputs: 0 });
  clock = 1000;
  bar({ event: 'unit', id: 'u1', rows: 1000, ok: true, done: 1, todo: 2 });
  assert.match(tty.at(-1)!, /\[#{15}\.{15}\]  50% 1\/2 units 1\.0k rows 1\.0k rows\/s ETA 1s/);
  clock = 2000;
  bar({ event: 'unit', id: 'u2', rows: 1000, ok: true, done: 2, todo: 2 });
  assert.match(tty.at(-1)!, /100% 2\/2 units .* ETA 0s\n$/);

  const lines: string[] = [];
  const log = createProgress((t) => lines.push(t), false, () => clock);
  log({ event: 'unit', id: 'u1', rows: 10, ok: false, error: 'boom', done: 1, todo: 1 });
  const rec = JSON.parse(lines[0]!);
  assert.equal(rec.event, 'unit');
  assert.equal(rec.error, 'boom');
  assert.equal(typeof rec.rows_per_s, 'number');
});
