/**
 * The hand-written floor of bench/realtime, served: floor-app.ts's app on the host's listener
 * (the same as hello.ts's and `omniserve serve`'s). See floor-app.ts for what it does and
 * leaves out.
 *
 *   node --import tsx bench/realtime/floor.ts --redis redis://127.0.0.1:6379 [--port P] [--host H]
 *   node_modules/.bin/bun bench/realtime/floor.ts …      node_modules/.bin/deno run -A bench/realtime/floor.ts …
 *
 * Prints the same `{"event":"listening","url":…}` line as `omniserve serve`; SIGTERM stops it.
 * @module
 */
import { parseArgs } from 'node:util';
import { createFloorApp } from './floor-app.ts';
import { serveBenchServer } from './host-listener.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, redis: { type: 'string' },
  },
});
if (!values.redis) throw new Error('floor.ts: --redis URL is required');

const floor = await createFloorApp({ redis: values.redis });
await serveBenchServer(floor.app.fetch, { port: Number(values.port), host: values.host }, () => floor.close());
