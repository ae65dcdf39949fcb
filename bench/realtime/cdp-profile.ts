export {};
/**
 * Takes a CPU profile of a process started with `--inspect=HOST:PORT` over the Chrome DevTools
 * Protocol: Deno has no `--cpu-prof`, so bench/realtime/profile.ts runs this (on Deno, which
 * has a WebSocket client) beside the load. Samples every 200 µs for `seconds`, then writes the
 * `.cpuprofile` (the format `node --cpu-prof` writes) to `out`.
 *
 *   deno run -A bench/realtime/cdp-profile.ts 127.0.0.1:9229 10 out.cpuprofile
 * @module
 */
const [hostPort, seconds, out] = Deno.args;
if (!hostPort || !seconds || !out) throw new Error('usage: cdp-profile.ts HOST:PORT SECONDS OUT');

const targets = await (await fetch(`http://${hostPort}/json/list`)).json() as { webSocketDebuggerUrl: string }[];
const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = reject;
});
const pending = new Map<number, (reply: { result?: unknown; error?: unknown }) => void>();
ws.onmessage = (e) => {
  const reply = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: unknown };
  if (reply.id !== undefined) pending.get(reply.id)?.(reply);
};
let nextId = 0;
async function call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
  const id = ++nextId;
  const reply = await new Promise<{ result?: unknown; error?: unknown }>((resolve) => {
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
  pending.delete(id);
  if (reply.error) throw new Error(`${method}: ${JSON.stringify(reply.error)}`);
  return reply.result;
}

await call('Profiler.enable');
await call('Profiler.setSamplingInterval', { interval: 200 });
await call('Profiler.start');
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
const { profile } = await call('Profiler.stop') as { profile: unknown };
await Deno.writeTextFile(out, JSON.stringify(profile));
ws.close();
