import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { isOmniserveError, type OmniserveError } from '../errors.ts';
import { featureFileFormat, parseFeatureFile } from './load-file.ts';

const T = { timeout: 10_000 };
const bytes = (s: string) => new TextEncoder().encode(s);
/** Asserts INVALID_CONFIG whose message names the file and matches `problem`. */
const invalid = (file: string, problem: RegExp) => (e: unknown) => {
  assert.ok(isOmniserveError(e, 'INVALID_CONFIG'), `expected INVALID_CONFIG, got ${String(e)}`);
  assert.ok((e as OmniserveError).message.includes(file), (e as OmniserveError).message);
  assert.match((e as OmniserveError).message, problem);
  return true;
};

describe('feature files', () => {
  test('JSON object of hashes keeps its keys', T, async () => {
    const got = await parseFeatureFile(bytes('{"user:1": {"age": 30, "vip": true}, "item:9": {"price": 9.5, "tag": null}}'), 'f.json');
    assert.deepEqual(got, [['user:1', { age: 30, vip: true }], ['item:9', { price: 9.5, tag: null }]]);
  });

  test('JSON array of rows: keys from the key column and prefix', T, async () => {
    const text = '[{"id": 1, "age": 30}, {"id": "b7", "age": 41}]';
    assert.deepEqual(await parseFeatureFile(bytes(text), 'rows.json'), [['user:1', { id: 1, age: 30 }], ['user:b7', { id: 'b7', age: 41 }]]);
    const items = await parseFeatureFile(bytes('[{"sku": 5, "price": 2}]'), 'items.json', { keyColumn: 'sku', prefix: 'item' });
    assert.deepEqual(items, [['item:5', { sku: 5, price: 2 }]]);
    const bare = await parseFeatureFile(bytes('[{"id": "user:3", "a": 1}]'), 'x.json', { prefix: '' });
    assert.equal(bare[0]![0], 'user:3');
  });

  test('JSON lines, blank lines skipped, CRLF accepted', T, async () => {
    const got = await parseFeatureFile(bytes('{"id": 1, "age": 30}\r\n\n{"id": 2, "age": 41}\n'), 'users.jsonl');
    assert.deepEqual(got, [['user:1', { id: 1, age: 30 }], ['user:2', { id: 2, age: 41 }]]);
    assert.equal((await parseFeatureFile(bytes('{"id": 1}'), 'users.ndjson')).length, 1);
  });

  test('CSV with quoted fields: commas, doubled quotes, newlines; numbers unquoted only', T, async () => {
    const csv = 'id,name,score,note,zip\r\n007,"Smith, J.",0.5,"said ""hi""\nthen left",\n8,plain,-2,"12",02134\n';
    const got = await parseFeatureFile(bytes(csv), 'users.csv');
    assert.deepEqual(got, [
      ['user:007', { id: '007', name: 'Smith, J.', score: 0.5, note: 'said "hi"\nthen left', zip: null }],
      ['user:8', { id: '8', name: 'plain', score: -2, note: '12', zip: 2134 }],
    ]);
  });

  test('CSV without a trailing newline, and with a BOM', T, async () => {
    const got = await parseFeatureFile(bytes('\uFEFFid,a\n1,2'), 'u.csv');
    assert.deepEqual(got, [['user:1', { id: '1', a: 2 }]]);
  });

  test('Parquet written by hyparquet-writer', T, async () => {
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: 'id', data: [1, 2, 3], type: 'INT32' },
        { name: 'age', data: [30, 41, null], type: 'INT32' },
        { name: 'score', data: [0.5, 1.5, 2.5], type: 'DOUBLE' },
        { name: 'plan', data: ['free', 'pro', 'pro'], type: 'STRING' },
        { name: 'clicks', data: [10n, 20n, 30n], type: 'INT64' },
      ],
    });
    const got = await parseFeatureFile(new Uint8Array(buffer), 'users.parquet');
    assert.deepEqual(got, [
      ['user:1', { id: 1, age: 30, score: 0.5, plan: 'free', clicks: 10 }],
      ['user:2', { id: 2, age: 41, score: 1.5, plan: 'pro', clicks: 20 }],
      ['user:3', { id: 3, age: null, score: 2.5, plan: 'pro', clicks: 30 }],
    ]);
    // A view into a larger buffer reads only its own bytes.
    const padded = new Uint8Array(buffer.byteLength + 8);
    padded.set(new Uint8Array(buffer), 4);
    assert.equal((await parseFeatureFile(padded.subarray(4, 4 + buffer.byteLength), 'users.parquet')).length, 3);
  });

  test('corrupt files are INVALID_CONFIG naming the file', T, async () => {
    await assert.rejects(parseFeatureFile(bytes('PAR1 this is not parquet PAR1'), 'bad.parquet'), invalid('bad.parquet', /Parquet/));
    const buffer = new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'id', data: [1, 2], type: 'INT32' }] }));
    await assert.rejects(parseFeatureFile(buffer.subarray(0, buffer.length - 12), 'cut.parquet'), invalid('cut.parquet', /Parquet/));
    await assert.rejects(parseFeatureFile(bytes('{"user:1": {'), 'bad.json'), invalid('bad.json', /not valid JSON/));
    await assert.rejects(parseFeatureFile(bytes('{"id":1}\n{oops'), 'bad.jsonl'), invalid('bad.jsonl', /line 2/));
    await assert.rejects(parseFeatureFile(bytes('id,a\n1,"open'), 'bad.csv'), invalid('bad.csv', /unterminated/));
    await assert.rejects(parseFeatureFile(bytes('id,a\n1,2,3'), 'wide.csv'), invalid('wide.csv', /3 fields; the header has 2/));
    await assert.rejects(parseFeatureFile(new Uint8Array([0xff, 0xfe, 0x00]), 'bin.csv'), invalid('bin.csv', /UTF-8/));
    await assert.rejects(parseFeatureFile(bytes('[{"id":1,"emb":[1,2]}]'), 'nested.json'), invalid('nested.json', /"emb".*nested/));
  });

  test('a missing key column is INVALID_CONFIG naming the file and column', T, async () => {
    await assert.rejects(parseFeatureFile(bytes('user,a\n1,2'), 'nokey.csv'), invalid('nokey.csv', /no key column "id".*user, a/));
    await assert.rejects(parseFeatureFile(bytes('[{"id":1},{"uid":2}]'), 'rows.json'), invalid('rows.json', /row 2 has no key column "id"/));
    await assert.rejects(parseFeatureFile(bytes('{"uid":2}'), 'rows.jsonl'), invalid('rows.jsonl', /row 1 has no key column/));
    const buffer = parquetWriteBuffer({ columnData: [{ name: 'uid', data: [1], type: 'INT32' }] });
    await assert.rejects(parseFeatureFile(new Uint8Array(buffer), 'nokey.parquet'), invalid('nokey.parquet', /no key column "id".*uid/));
  });

  test('the format comes from the name unless given', T, async () => {
    assert.equal(featureFileFormat('a/b/users.PARQUET'), 'parquet');
    assert.equal(featureFileFormat('x.ndjson'), 'jsonl');
    assert.throws(() => featureFileFormat('users.xlsx'), invalid('users.xlsx', /\.csv/));
    assert.deepEqual(await parseFeatureFile(bytes('id\n5'), 'features.txt', { format: 'csv' }), [['user:5', { id: '5' }]]);
  });
});
