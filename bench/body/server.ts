/**
 * bench/body's server: a Hono app with two ways of reading a request body side by side,
 * served by the listener `omniserve serve` uses on the host it runs on. `POST /host` reads
 * it with the host's own reader (`c.req.arrayBuffer()`), `POST /sized` with omniserve's
 * `readSized` path (the body stream into one buffer of its declared size: src/http/body.ts,
 * `readBytes(c, limit, 0)`). `GET /reset` and `GET /stat` give the server's CPU time per
 * request since the reset (process.cpuUsage), which run.ts divides.
 *
 *   node --import tsx bench/body/server.ts --port 18666   (or bun / deno run -A)
 * @module
 */
import process from 'node:process';
import { parseArgs } from 'node:util';
import { Hono } from 'hono';
import { readBytes } from '../../src/http/body.ts';
import { hostListener } from '../realtime/host-listener.ts';

const { values } = parseArgs({ options: { port: { type: 'string', default: '18666' } } });
let n = 0;
let c0 = process.cpuUsage();
const app = new Hono();
app.get('/reset', (c) => {
  n = 0;
  c0 = process.cpuUsage();
  return c.text('ok');
});
app.get('/stat', (c) => {
  const u = process.cpuUsage(c0);
  return c.json({ requests: n, cpuMsPerRequest: (u.user + u.system) / 1000 / n });
});
const LIMIT = 1 << 30;
app.post('/host', async (c) => {
  const b = await readBytes(c, LIMIT);
  n++;
  return c.text(String(b.byteLength));
});
app.post('/sized', async (c) => {
  const b = await readBytes(c, LIMIT, 0);
  n++;
  return c.text(String(b.byteLength));
});
const { listen } = await hostListener();
const l = await listen(app.fetch, { port: Number(values.port), host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ event: "listening", port: l.port })}\n`);
process.on('SIGTERM', () => process.exit(0));
