/**
 * Seeds Redis for bench/realtime: 10,000 `user:{i}` and 1,000 `item:{j}` hashes holding the
 * breast-cancer model's 30 features between them, so `POST /predict {user_id, item_id}`
 * merges the two into one full row. Users carry the 20 `mean_*` and `*_error` features,
 * items the 10 `worst_*` ones. Values are rows of test/fixtures/data/breast-cancer.jsonl
 * (cycled) times 1 ± 2 % noise, so the model sees realistic inputs and the benchmark does
 * not read the same 569 hashes over and over. Deterministic (seeded), written with
 * pipelined HSETs.
 *
 *   node --import tsx bench/realtime/seed-redis.ts redis://127.0.0.1:6379
 * @module
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

/** How many entities of each kind the benchmark draws ids from (post.lua uses the same). */
export const USERS = 10_000;
export const ITEMS = 1_000;
/** The features an item holds; a user holds every other one. */
export const isItemFeature = (name: string) => name.startsWith('worst_');

/** HSETs per pipeline: big enough to cut round trips, small enough to bound memory. */
const PIPELINE = 1_000;
const NOISE = 0.02;

type Row = Record<string, number>;

const fixture = (rel: string) => readFileSync(fileURLToPath(new URL(`../../test/fixtures/${rel}`, import.meta.url)), 'utf8');

/** The 30 features the breast-cancer model reads, from its serving config. */
export function modelFeatures(): string[] {
  const config = JSON.parse(fixture('models/breast-cancer.config.json')) as { inputs: { features: { features: string[] } } };
  return config.inputs.features.features;
}

/** The fixture's rows, only the model's features (not `id`, `target`, `label`). */
export function fixtureRows(): Row[] {
  const names = modelFeatures();
  return fixture('data/breast-cancer.jsonl').split('\n').filter((l) => l.trim()).map((l) => {
    const all = JSON.parse(l) as Row;
    return Object.fromEntries(names.map((n) => [n, all[n]!]));
  });
}

/** mulberry32: a tiny seeded PRNG, so every run seeds the same values. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** `row`'s features that `keep` selects, each times 1 ± NOISE, as Redis hash fields. */
function fields(row: Row, keep: (name: string) => boolean, rand: () => number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, x] of Object.entries(row)) {
    // Six significant digits: as long as the fixture's own values, not 17-digit doubles.
    if (keep(name)) out[name] = String(Number((x * (1 + NOISE * (2 * rand() - 1))).toPrecision(6)));
  }
  return out;
}

/** What {@link seedRedis} wrote. */
export interface SeedReport {
  readonly users: number;
  readonly items: number;
  readonly userFields: number;
  readonly itemFields: number;
  readonly seconds: number;
}

/** Writes the user and item hashes (replacing any already there) and checks the key count. */
export async function seedRedis(url: string, counts = { users: USERS, items: ITEMS }): Promise<SeedReport> {
  const rows = fixtureRows();
  const rand = prng(569);
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const t0 = performance.now();
  try {
    await client.connect();
    const keys: [string, Record<string, string>][] = [];
    for (let i = 0; i < counts.users; i++) keys.push([`user:${i}`, fields(rows[i % rows.length]!, (n) => !isItemFeature(n), rand)]);
    // A different stride for items, so user i and item i do not come from the same patient.
    for (let j = 0; j < counts.items; j++) keys.push([`item:${j}`, fields(rows[(j * 7 + 3) % rows.length]!, isItemFeature, rand)]);
    for (let start = 0; start < keys.length; start += PIPELINE) {
      const p = client.pipeline();
      for (const [key, f] of keys.slice(start, start + PIPELINE)) p.del(key).hset(key, f);
      const replies = await p.exec();
      const failed = replies?.find(([err]) => err !== null);
      if (failed) throw failed[0];
    }
    const [userKeys, itemKeys] = await Promise.all([`user:${counts.users - 1}`, `item:${counts.items - 1}`].map((k) => client.hlen(k)));
    const total = await client.dbsize();
    if (total < counts.users + counts.items) throw new Error(`seeded ${counts.users + counts.items} hashes but Redis holds ${total} keys`);
    return { users: counts.users, items: counts.items, userFields: userKeys!, itemFields: itemKeys!, seconds: (performance.now() - t0) / 1000 };
  } finally {
    client.disconnect();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const url = process.argv[2];
  if (!url) throw new Error('usage: seed-redis.ts redis://HOST:PORT');
  process.stdout.write(`${JSON.stringify(await seedRedis(url))}\n`);
}
