// decimalAt: which hash values the reader hands over as numbers. The contract: a number only
// when String(number) is exactly the text Redis holds (and equal to Number(text)); anything
// else stays the string. Checked on fixed cases and on 200,000 generated ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decimalAt } from './redis-hash-reader.ts';

const at = (s: string) => decimalAt(`xx${s}yy`, 2, s.length);

test('canonical decimals become numbers; every other spelling stays text', () => {
  for (const s of ['0', '7', '-7', '27', '0.7', '-0.5', '123.456', '0.000001', '0.0000012', '999999999999999', '100000', '1.5', '-123456789.012345']) {
    assert.equal(at(s), Number(s), s);
    assert.equal(String(at(s)), s, s);
  }
  for (const s of ['', '-', '.', '.5', '5.', '-0', '007', '00', '1.50', '0.0', '1e5', '1E5', '+5', ' 5', '5 ', 'NaN', 'inf', 'Infinity',
    '0x10', '1_000', '1,5', '0.0000001', '1234567890123456', '0.12345678901234567', '123456789012345678', '--5', '1.2.3', '١٢']) {
    assert.equal(at(s), undefined, JSON.stringify(s));
  }
});

test('generated values: a number is always exact and prints back as the stored text', () => {
  let rnd = 12345;
  const next = () => ((rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) / 2 ** 32);
  let converted = 0;
  for (let i = 0; i < 200_000; i++) {
    const mag = 10 ** Math.floor(next() * 24 - 9);
    const x = (next() - 0.5) * mag;
    const forms = [String(x), x.toPrecision(1 + Math.floor(next() * 17)), x.toFixed(Math.floor(next() * 10)), String(Math.round(x))];
    for (const s of forms) {
      const v = at(s);
      if (v === undefined) continue;
      converted++;
      assert.equal(String(v), s, `${s} -> ${v}`);
      assert.ok(Object.is(v, Number(s)), `${s}: ${v} !== Number(s)`);
    }
  }
  // The fast path has to apply to ordinary feature values, or it is pointless.
  assert.ok(converted > 300_000, `${converted} converted`);
  for (let i = 0; i < 10_000; i++) {
    const s = String(Number((next() * 1000).toPrecision(6)));
    if (Number(s) >= 1e-6) assert.equal(at(s), Number(s), s);
  }
});
