// decimalAt: which hash values the reader hands over as numbers. The contract: a number only
// when String(number) is exactly the text Redis holds (and equal to Number(text)); anything
// else stays the string. Checked on fixed cases and on 200,000 generated ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Buffer } from 'node:buffer';
import { decimalAt, parseAny, parseReply } from './resp.ts';

const at = (s: string) => decimalAt(Buffer.from(`xx${s}yy`), 2, Buffer.byteLength(s));

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

// parseReply: what the reader does with each socket chunk. A chunk can end anywhere, in a
// length, a name or a value; the reader keeps the bytes from the first unfinished reply and
// parses them again with the next chunk. Cut a pipelined reply at every byte and check that
// the replies come back whole, whether the field names are new or seen before.
const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const hash = (fields: [string, string][]) => `*${fields.length * 2}\r\n${fields.map(([k, v]) => bulk(k) + bulk(v)).join('')}`;

test('a pipelined reply cut at every byte parses to the same hashes, names seen before or not', () => {
  const user = (i: number): [string, string][] => [['mean_radius', String(10 + i / 8)], ['mean_texture', `t${i}`], ['mean_area', '-0.5']];
  // A shape that shares a prefix with `user` and then differs, one with a name only one byte
  // longer, an empty hash (missing key) and an error for one key.
  const replies: string[] = [hash(user(1)), hash(user(2)), hash([['mean_radius', '3'], ['other', '007']]), hash([['mean_radiusX', '1']]),
    '*0\r\n', '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n', hash(user(3)),
    // Non-ASCII names and values (UTF-8, cut inside a character too), seen twice so the
    // second walks the trie; a value long enough to be decoded in one call.
    hash([['ü', 'ünïcode ✓'], ['mean_radius', 'a text value of more than twenty-four bytes']]), hash([['ü', 'é'], ['mean_radius', '2']])];
  const text = Buffer.from(replies.join(''));
  const expected: unknown[] = [
    { mean_radius: 10.125, mean_texture: 't1', mean_area: -0.5 },
    { mean_radius: 10.25, mean_texture: 't2', mean_area: -0.5 },
    { mean_radius: 3, other: '007' },
    { mean_radiusX: 1 },
    null,
    'WRONGTYPE Operation against a key holding the wrong kind of value',
    { mean_radius: 10.375, mean_texture: 't3', mean_area: -0.5 },
    { 'ü': 'ünïcode ✓', mean_radius: 'a text value of more than twenty-four bytes' },
    { 'ü': 'é', mean_radius: 2 },
  ];
  const plain = (r: unknown) => (r instanceof Error ? r.message : r === null ? null : { ...(r as object) });
  for (let cut = 0; cut <= text.length; cut++) {
    // First chunk: text up to `cut`; then the rest arrives and parsing resumes where it stopped.
    const out: unknown[] = [];
    let at = 0;
    for (const chunk of [text.subarray(0, cut), text]) {
      for (;;) {
        if (at >= chunk.length) break;
        const end = parseReply(chunk, at, out as never[]);
        if (end === -1) break;
        at = end;
      }
    }
    assert.equal(at, text.length, `cut at ${cut}`);
    assert.deepEqual(out.map(plain), expected, `cut at ${cut}`);
  }
});

test('parseAny (the invalidation subscriber): messages whole or cut at any byte; null payloads (flushes) and errors', () => {
  const msg = '*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*2\r\n$6\r\nuser:1\r\n$0\r\n\r\n';
  const flush2 = '*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n';
  const flush3 = '*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*-1\r\n';
  const text = `${msg}:42\r\n+OK\r\n-ERR no\r\n${flush2}${flush3}`;
  const want = [['message', '__redis__:invalidate', ['user:1', '']], 42, 'OK', new Error('ERR no'),
    ['message', '__redis__:invalidate', null], ['message', '__redis__:invalidate', null]];
  const all = (t: string) => {
    const got: unknown[] = [];
    for (let at = 0, r; (r = parseAny(t, at)) !== undefined; at = r.end) got.push(r.v);
    return got;
  };
  assert.deepEqual(all(text), want);
  // Cut anywhere: what is complete parses, the rest waits for more bytes.
  for (let cut = 0; cut < msg.length; cut++) assert.equal(parseAny(msg.slice(0, cut), 0), undefined, `cut at ${cut}`);
  assert.throws(() => parseAny('?what\r\n', 0), /unexpected reply/);
});
