/**
 * Runs the Workers bundle locally in real workerd (Miniflare, a devDependency), without
 * wrangler or a Cloudflare account:
 *
 *   node --import tsx runtimes/workerd/dev.ts [--port 8787] [--model path.onnx]...
 *
 * Builds `.tmp/workerd/` first. Bindings come from this process's environment (the
 * `WorkerEnv` names: UPSTASH_REDIS_REST_URL/TOKEN, OMNISERVE_API_KEYS …), so pointing it at
 * `omniserve redis-rest` gives the edge feature store over a local Redis. Ctrl-C stops it.
 * @module
 */
import process from 'node:process';
import { parseArgs } from 'node:util';
import { Miniflare } from 'miniflare';
import { buildWorkerd, describeBuild } from '../../scripts/build-workerd.ts';
import { COMPATIBILITY_DATE } from './compatibility.ts';

const BINDINGS = [
  'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'OMNISERVE_API_KEYS', 'OMNISERVE_CORS_ORIGINS',
  'OMNISERVE_MAX_BODY_BYTES', 'OMNISERVE_MAX_RECORDS', 'OMNISERVE_CACHE_TTL_MS', 'OMNISERVE_MISSING_ENTITY',
] as const;

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8787' },
    host: { type: 'string', default: '127.0.0.1' },
    model: { type: 'string', multiple: true },
  },
});
const built = await buildWorkerd({ models: values.model });
console.log(describeBuild(built));
const bindings: Record<string, string> = {};
for (const k of BINDINGS) if (process.env[k]) bindings[k] = process.env[k]!;
const mf = new Miniflare({
  modulesRoot: built.outDir,
  modules: built.modules.map((m) => ({ type: m.type, path: m.path })),
  compatibilityDate: COMPATIBILITY_DATE,
  host: values.host,
  port: Number(values.port),
  bindings,
});
const url = await mf.ready;
console.log(`omniserve (workerd) listening on ${url.href}; bindings: ${Object.keys(bindings).join(', ') || 'none'}`);
const stop = () => {
  mf.dispose().finally(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
