/**
 * The commit points of pipelined batches: a partition's point moves only over a
 * contiguous run of acknowledged batches; dropped (revoked) partitions never commit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommitTracker } from '../../src/stream/commit-tracker.ts';

test('a partition commits only up to its oldest unacknowledged batch', () => {
  const t = new CommitTracker();
  const a = t.begin('in', 0, '10', 10);
  const b = t.begin('in', 0, '20', 10);
  const c = t.begin('in', 0, '30', 10);
  const other = t.begin('in', 1, '5', 5);
  assert.equal(t.inFlight, 35);
  assert.equal(t.done(b), false, 'b is done before a: nothing may be committed yet');
  assert.deepEqual(t.takeCommits(), []);
  assert.equal(t.done(a), true);
  assert.deepEqual(t.takeCommits(), [{ topic: 'in', partition: 0, offset: '20' }], 'a and b together');
  assert.equal(t.done(other), true);
  assert.equal(t.done(c), true);
  assert.deepEqual(t.takeCommits().sort((x, y) => x.partition - y.partition),
    [{ topic: 'in', partition: 0, offset: '30' }, { topic: 'in', partition: 1, offset: '5' }]);
  assert.equal(t.inFlight, 0);
  assert.equal(t.pendingBatches, 0);
  assert.equal(t.done(c), false, 'done twice counts once');
  assert.equal(t.inFlight, 0);
});

test('a failed commit is restored unless a newer point replaced it; revoked partitions are forgotten', () => {
  const t = new CommitTracker();
  const a = t.begin('in', 0, '10', 10);
  t.done(a);
  const first = t.takeCommits();
  t.restore(first);
  assert.deepEqual(t.takeCommits(), first);
  const b = t.begin('in', 0, '20', 10);
  t.done(b);
  t.restore(first); // the failed older point must not overwrite the newer one
  assert.deepEqual(t.takeCommits(), [{ topic: 'in', partition: 0, offset: '20' }]);

  const c = t.begin('in', 2, '7', 7);
  const d = t.begin('in', 3, '9', 9);
  assert.deepEqual(t.pendingOf([{ topic: 'in', partition: 2 }]), [c]);
  t.drop([{ topic: 'in', partition: 2 }]);
  assert.equal(t.inFlight, 9, 'the dropped batch no longer counts as in flight');
  assert.equal(t.done(c), false, 'a revoked partition never commits');
  assert.equal(t.inFlight, 9);
  t.done(d);
  assert.deepEqual(t.takeCommits(), [{ topic: 'in', partition: 3, offset: '9' }]);
});
