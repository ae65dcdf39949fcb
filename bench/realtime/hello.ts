/**
 * The baseline server of bench/realtime: a Hono hello-world `POST /predict` that parses the
 * JSON body and echoes `user_id`, served by the same listener `omniserve serve` uses on the
 * host it runs on (@hono/node-server on Node, Bun.serve on Bun, Deno.serve on Deno). Its
 * requests/s is what HTTP + Hono + JSON cost alone; omniserve's figure is divided by it.
 *
 *   node --import tsx bench/realtime/hello.ts [--port P] [--host H] [--body json|stream] [--reply echo|seed]
 *   node_modules/.bin/bun bench/realtime/hello.ts …
 *   node_modules/.bin/deno run -A bench/realtime/hello.ts …
 *
 * `--body stream` (a diagnostic, not the baseline) reads the body the way omniserve's
 * src/http/body.ts does, through `c.req.raw.body.getReader()`, instead of `c.req.json()`:
 * on Node that turns @hono/node-server's lightweight request into a full undici Request
 * (AbortController, web stream over the socket), and the difference in requests/s is that cost.
 *
 * `--reply seed` (a diagnostic) answers with a reply of the size and shape of omniserve's
 * seed-compatible `/predict` answer (`features_used` lists the fixture model's 30 feature
 * names: ~700 bytes) instead of the ~25-byte echo: what the contract's reply size costs the
 * host's HTTP layer alone.
 *
 * Prints the same `{"event":"listening","url":…}` line as `omniserve serve`; SIGTERM stops it.
 * @module
 */
import { Buffer } from 'node:buffer';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { serveBenchServer } from './host-listener.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' },
    body: { type: 'string', default: 'json' }, reply: { type: 'string', default: 'echo' },
  },
});

/** The fixture model's feature names, in order: what omniserve's `features_used` lists. */
const FEATURES: string[] = JSON.parse(readFileSync(new URL('../../test/fixtures/models/breast-cancer.config.json', import.meta.url), 'utf8')).inputs.features.features;

/** Reads the body through its web stream, as omniserve's readLimited does (minus the size checks). */
async function readStream(req: Request): Promise<unknown> {
  const reader = req.body!.getReader();
  const chunks: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  return JSON.parse(new TextDecoder().decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
}

const app = new Hono();
// Parsing the body (not just answering) keeps the baseline fair: omniserve must parse it too.
app.post('/predict', async (c) => {
  const body = (values.body === 'stream' ? await readStream(c.req.raw) : await c.req.json()) as { user_id?: unknown };
  if (values.reply === 'seed') {
    return c.json({
      prediction: 1, probability: 0.9731, label: 'benign', model: 'breast-cancer', model_version: '1',
      latency_ms: 0.412, features_used: FEATURES, cached: false, echo: body.user_id,
    });
  }
  return c.json({ ok: true, echo: body.user_id });
});

await serveBenchServer(app.fetch, { port: Number(values.port), host: values.host });
