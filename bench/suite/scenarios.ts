/**
 * The scenarios `omniserve bench` runs: each is one of the bench/<scenario>/run.ts scripts,
 * which starts what it needs (Redis, the Kafka-protocol broker, servers, Chromium), measures
 * beside its baseline and writes bench/results/<scenario>.json. Here: how the suite's
 * `--runtime`, `--backend` and `--quick` map onto each script's own flags.
 * @module
 */

export const SCENARIOS = ['core', 'realtime', 'async', 'stream', 'batch', 'browser'] as const;
export type Scenario = (typeof SCENARIOS)[number];
export const RUNTIMES = ['node', 'bun', 'deno', 'workerd'] as const;

/** What the suite was asked for. */
export interface Selection {
  readonly runtimes: readonly string[];
  /** Backends for bench/core (the servers pick theirs: `auto`). Empty: every one the host offers. */
  readonly backends: readonly string[];
  readonly quick: boolean;
}

/** How one scenario is run, or why it is not run for this selection. */
export type Plan =
  | { readonly run: true; readonly script: string; readonly args: readonly string[]; readonly runtimes: readonly string[] }
  | { readonly run: false; readonly why: string };

// bench/core's default pairs: every backend each host offers here (native WebGPU needs a GPU
// adapter: bench/gpu measures it on NVIDIA machines).
const CORE_PAIRS = ['node:native-cpu', 'node:web-wasm', 'bun:native-cpu', 'bun:web-wasm', 'deno:native-cpu', 'deno:web-wasm', 'deno:web-webgpu'];

/** The command line of one scenario for a selection. */
export function plan(scenario: Scenario, sel: Selection): Plan {
  const has = (r: string) => sel.runtimes.includes(r);
  const hosts = ['node', 'bun', 'deno'].filter(has);
  const quick = sel.quick ? ['--quick'] : [];
  const script = `bench/${scenario}/run.ts`;
  const nodeOnly = (what: string): Plan => (has('node')
    ? { run: true, script, args: quick, runtimes: ['node'] }
    : { run: false, why: `${what} runs on Node (not asked for: --runtime ${sel.runtimes.join(',')})` });
  switch (scenario) {
    case 'core': {
      const pairs = CORE_PAIRS.filter((p) => {
        const [h, b] = p.split(':');
        return has(h!) && (sel.backends.length === 0 || sel.backends.includes(b!));
      });
      if (pairs.length === 0) return { run: false, why: 'no host × backend pair matches --runtime/--backend' };
      return { run: true, script, args: [...quick, '--pairs', pairs.join(',')], runtimes: [...new Set(pairs.map((p) => p.split(':')[0]!))] };
    }
    case 'realtime':
      if (hosts.length === 0) return { run: false, why: 'the realtime servers run on node, bun or deno' };
      return { run: true, script, args: [...quick, '--hosts', hosts.join(','), '--heavy-hosts', sel.quick ? hosts[0]! : hosts.join(',')], runtimes: hosts };
    case 'async':
      return nodeOnly('the async server and workers');
    case 'stream': {
      // Deno cannot load the Kafka client (a nan addon; Deno loads only Node-API ones).
      const streamHosts = hosts.filter((x) => x !== 'deno');
      if (streamHosts.length === 0) return { run: false, why: 'the stream processes (@confluentinc/kafka-javascript) run on Node and Bun' };
      return { run: true, script, args: [...quick, '--hosts', streamHosts.join(',')], runtimes: streamHosts };
    }
    case 'batch':
      if (!has('node')) return nodeOnly('batch scoring');
      return { run: true, script, args: sel.quick ? ['--rows', '1000000', '--files', '4'] : [], runtimes: ['node'] };
    case 'browser':
      return { run: true, script, args: quick, runtimes: ['chromium'] };
  }
}

/** Runtimes the suite cannot measure yet, and why (printed, so nothing is silently left out). */
export function unsupported(sel: Selection): string[] {
  return sel.runtimes.includes('workerd')
    ? ['workerd: no scenario measures it under load yet (test/workerd runs the same app in workerd through Miniflare for correctness)']
    : [];
}
