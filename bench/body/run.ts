/**
 * bench/body: which request-body reader costs the server less CPU on each host, by size.
 * Starts bench/body/server.ts on Node, Bun and Deno in turn; posts bodies of each size with
 * 4 requests in flight for 1.5 s per reader, alternating the readers three times; prints the
 * server's CPU ms per request (each round, and the least). What `sizedBodies` in
 * runtimes/serve/build-server.ts chooses from. Needs the 2 cores to itself.
 *
 *   node --import tsx bench/body/run.ts [--sizes 131072,1048576,4194304] [--hosts node,bun,deno]
 * @module
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '65536,131072,262144,1048576,4194304' }, hosts: { type: 'string', default: 'node,bun,deno' } } });
const sizes = values.sizes!.split(',').map(Number);
const PORT = 18666;
const cmd: Record<string, string[]> = {
  node: ['node', '--import', 'tsx', 'bench/body/server.ts'],
  bun: ['node_modules/.bin/bun', 'bench/body/server.ts'],
  deno: ['node_modules/.bin/deno', 'run', '-A', 'bench/body/server.ts'],
};
const base = `http://127.0.0.1:${PORT}`;
for (const host of values.hosts!.split(',')) {
  const [bin, ...args] = cmd[host]!;
  const child = spawn(bin!, [...args, '--port', String(PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  console.log(`== ${host}: server CPU ms per request (rounds; least)`);
  for (const size of sizes) {
    const body = new Uint8Array(size).fill(7);
    const per: Record<string, number[]> = { host: [], sized: [] };
    for (let round = 0; round < 3; round++) {
      for (const reader of ['host', 'sized']) {
        await (await fetch(`${base}/reset`)).text();
        const t = performance.now();
        await Promise.all([0, 1, 2, 3].map(async () => {
          while (performance.now() - t < 1500) await (await fetch(`${base}/${reader}`, { method: 'POST', body })).text();
        }));
        per[reader]!.push(((await (await fetch(`${base}/stat`)).json()) as { cpuMsPerRequest: number }).cpuMsPerRequest);
      }
    }
    for (const [reader, v] of Object.entries(per)) {
      console.log(`${String(size >> 10).padStart(5)} KiB ${reader.padEnd(5)} ${v.map((x) => x.toFixed(3)).join(' ')}  least ${Math.min(...v).toFixed(3)}`);
    }
  }
  child.kill('SIGTERM');
  await once(child, 'exit');
}
