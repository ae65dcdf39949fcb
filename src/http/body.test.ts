/**
 * parseJson: malformed and empty bodies are INVALID_JSON; nesting is allowed to exactly
 * MAX_DEPTH levels through arrays and objects alike, one more is INVALID_REQUEST.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isOmniserveError } from '../errors.ts';
import { MAX_DEPTH, parseJson } from './body.ts';

const nest = (depth: number, leaf: string): string => {
  let s = leaf;
  for (let d = 1; d <= depth; d++) s = d % 2 ? `[1, ${s}, "x"]` : `{"a": 1, "b": ${s}}`;
  return s;
};

test('nesting up to MAX_DEPTH parses; one level more is INVALID_REQUEST naming the limit', () => {
  assert.deepEqual(parseJson(nest(2, '0')), { a: 1, b: [1, 0, 'x'] });
  assert.ok(parseJson(nest(MAX_DEPTH, '0')));
  assert.ok(parseJson(nest(MAX_DEPTH - 1, '{}')), 'an empty container counts as a level');
  for (const body of [nest(MAX_DEPTH + 1, '0'), nest(MAX_DEPTH, '[]'), nest(MAX_DEPTH, '{}')]) {
    assert.throws(() => parseJson(body), (e: unknown) => isOmniserveError(e, 'INVALID_REQUEST') && /nested deeper than 64 levels/.test((e as Error).message));
  }
  // Deep in one branch of a wide document, after many plain values.
  const wide = `{"instances": [${Array.from({ length: 64 }, () => `{"x": [${Array.from({ length: 1024 }, (_, i) => i / 7).join(',')}]}`).join(',')}], "deep": ${nest(MAX_DEPTH, '0')}}`;
  assert.throws(() => parseJson(wide), (e: unknown) => isOmniserveError(e, 'INVALID_REQUEST'));
  assert.equal((parseJson(wide.replace(/"deep": .*\}$/, '"deep": 0}')) as { instances: unknown[] }).instances.length, 64);
});

test('empty and malformed bodies are INVALID_JSON; primitives parse', () => {
  for (const body of ['', '  \n', '{', '{"a":}', 'nul']) assert.throws(() => parseJson(body), (e: unknown) => isOmniserveError(e, 'INVALID_JSON'), JSON.stringify(body));
  assert.equal(parseJson('3'), 3);
  assert.equal(parseJson('null'), null);
});

test('long bodies are measured on the text: brackets inside strings and escaped quotes do not count', () => {
  const pad = `"pad": [${Array.from({ length: 4096 }, (_, i) => i).join(',')}]`;
  assert.ok(pad.length > 16_384, 'long enough for the text scan');
  const tricky = ['[[[[{{{{', 'a \\"[[[', '\\\\', '\\\\\\"{{{{', 'é [ \\u005b ]]]]', ''];
  const strings = `"s": ${JSON.stringify(tricky)}, ${JSON.stringify('[{'.repeat(200))}: ${JSON.stringify('}]'.repeat(200))}`;
  // An object holding arrays is two levels: MAX_DEPTH - 2 around it make exactly MAX_DEPTH.
  const at = (depth: number) => nest(depth - 2, `{${pad}, ${strings}}`);
  const ok = parseJson(at(MAX_DEPTH)) as unknown;
  assert.ok(ok);
  assert.throws(() => parseJson(at(MAX_DEPTH + 1)), (e: unknown) => isOmniserveError(e, 'INVALID_REQUEST') && /nested deeper than 64 levels/.test((e as Error).message));
  // The same documents short: the walk over the parsed value gives the same answers.
  const short = (depth: number) => nest(depth - 2, `{${strings}}`);
  assert.ok(short(MAX_DEPTH).length < 16_384);
  assert.ok(parseJson(short(MAX_DEPTH)));
  assert.throws(() => parseJson(short(MAX_DEPTH + 1)), (e: unknown) => isOmniserveError(e, 'INVALID_REQUEST'));
  // Long and deep only inside a string: one level.
  assert.deepEqual(parseJson(JSON.stringify(['['.repeat(20_000)])), ['['.repeat(20_000)]);
});

test('bodies declared at sizedFrom or more are read whole into one buffer; more bytes than declared or over the limit are refused', async () => {
  const { Hono } = await import('hono');
  const { readBytes, readJson } = await import('./body.ts');
  const app = new Hono();
  app.post('/bytes', async (c) => {
    try {
      const b = await readBytes(c, 1 << 20, 256 * 1024);
      let sum = 0;
      for (let i = 0; i < b.length; i++) sum = (sum * 31 + b[i]!) >>> 0;
      return c.json({ n: b.length, sum });
    } catch (e) {
      return c.json({ code: (e as { code?: string }).code }, 400);
    }
  });
  app.post('/host', async (c) => c.json({ n: (await readBytes(c, 1 << 20)).length }));
  app.post('/json', async (c) => c.json({ n: ((await readJson(c, 1 << 20, 256 * 1024)) as number[]).length }));
  const chunks = Array.from({ length: 5 }, (_, k) => Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7 + k) & 255));
  const stream = () => new ReadableStream<Uint8Array>({ start(ctl) { for (const ch of chunks) ctl.enqueue(ch); ctl.close(); } });
  let want = 0;
  for (const ch of chunks) for (let i = 0; i < ch.length; i++) want = (want * 31 + ch[i]!) >>> 0;
  const post = (path: string, length: number, body: BodyInit, type = 'application/octet-stream') =>
    app.request(path, { method: 'POST', body, headers: { 'content-length': String(length), 'content-type': type }, duplex: 'half' } as RequestInit);
  // 500,000 bytes in five chunks, declared: read in order into one buffer.
  assert.deepEqual(await (await post('/bytes', 500_000, stream())).json(), { n: 500_000, sum: want });
  // A body longer than it declared is refused, not read past the declared size.
  assert.deepEqual(await (await post('/bytes', 300_000, stream())).json(), { code: 'INVALID_REQUEST' });
  // Without sizedFrom the host's reader reads what comes (here: the whole stream).
  assert.deepEqual(await (await post('/host', 300_000, stream())).json(), { n: 500_000 });
  // Declared over the limit: refused before reading.
  assert.deepEqual(await (await post('/bytes', 2 << 20, stream())).json(), { code: 'PAYLOAD_TOO_LARGE' });
  // A large JSON body goes the same way and parses.
  const text = JSON.stringify(Array.from({ length: 60_000 }, (_, i) => i / 3));
  assert.ok(text.length > 256 * 1024);
  assert.deepEqual(await (await post('/json', new TextEncoder().encode(text).length, text, 'application/json')).json(), { n: 60_000 });
});
