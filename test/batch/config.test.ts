import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBatchConfig } from '../../src/batch/config.ts';

test('batch config: defaults, and errors that name the bad field', () => {
  const c = parseBatchConfig({ batch: { model: { path: 'm.onnx' } } });
  assert.equal(c.batchSize, 4_096);
  assert.equal(c.validation, 'fail');
  assert.equal(c.workers, undefined);
  assert.throws(() => parseBatchConfig({ batch: { model: { path: 'm.onnx' }, workers: -1, validation: 'maybe' } }),
    (e: Error & { code?: string }) => e.code === 'INVALID_CONFIG' && /batch\.workers/.test(e.message) && /batch\.validation/.test(e.message));
  assert.throws(() => parseBatchConfig({ model: {} }), /model\.path/);
});
