// Manifest writes during a run are coalesced and spaced by their own cost: a run of many
// units does not rewrite its (growing) manifest once per unit, and the last state is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manifestSaver } from '../../src/batch/run.ts';

test('manifestSaver: one write at a time, changes coalesced, spaced 3x the write time, the last state always written', async () => {
  let state = 0;
  const written: number[] = [];
  let inFlight = 0;
  const saver = manifestSaver(async () => {
    assert.equal(++inFlight, 1, 'one write at a time');
    const seen = state;
    await new Promise((res) => setTimeout(res, 10));
    written.push(seen);
    inFlight--;
  });
  // 200 units finishing 1 ms apart (200 ms) against writes of 10 ms + 30 ms spacing.
  for (let i = 1; i <= 200; i++) {
    state = i;
    saver.changed();
    await new Promise((res) => setTimeout(res, 1));
  }
  await saver.flush();
  assert.equal(written.at(-1), 200, 'the final state is on disk');
  assert.ok(written.length >= 2 && written.length <= 12, `${written.length} writes for 200 changes`);
  assert.deepEqual([...written].sort((a, b) => a - b), written, 'in order');
  // A failed write surfaces at flush.
  const failing = manifestSaver(async () => { throw new Error('disk full'); });
  failing.changed();
  await assert.rejects(failing.flush(), /disk full/);
});
