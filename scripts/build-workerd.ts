/**
 * Builds the Cloudflare Workers bundle: `runtimes/workerd/worker.ts` → `worker.js` (one ESM
 * file, esbuild), with onnxruntime-web's `ort-wasm-simd-threaded.wasm` and each model
 * copied beside it as modules of their own (CompiledWasm, Data) and the model configs
 * inlined as JSON. Checks the models against the isolate's memory and prints the sizes.
 *
 *   node --import tsx scripts/build-workerd.ts [--model path.onnx]... [--out dir] [--no-minify]
 *
 * Default model: the bundled demo, models/breast-cancer.onnx (+ .config.json). Default out:
 * .tmp/workerd/. Deploy the folder with runtimes/workerd/wrangler.toml.
 * @module
 */
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Plugin } from 'esbuild';
import { checkMemoryBudget } from '../runtimes/workerd/memory-budget.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = join(ROOT, 'runtimes/workerd/worker.ts');
const WASM_FILE = 'ort-wasm-simd-threaded.wasm';
const MANIFEST = 'omniserve:bundled-models';

/** Options of {@link buildWorkerd}. */
export interface BuildWorkerdOptions {
  /** .onnx files; each one's `<name>.config.json` beside it is its config when present. */
  readonly models?: readonly string[];
  /** Output folder (emptied first). Default `.tmp/workerd`. */
  readonly outDir?: string;
  /** Minify worker.js (default true). */
  readonly minify?: boolean;
}

/** One module of the Worker, as workerd and Miniflare take them. */
export interface WorkerModule {
  readonly type: 'ESModule' | 'CompiledWasm' | 'Data';
  /** Absolute path; its name relative to `outDir` is the module name. */
  readonly path: string;
  readonly bytes: number;
}

/** What was built. */
export interface BuiltWorker {
  readonly outDir: string;
  /** The entry first. */
  readonly modules: readonly WorkerModule[];
  /** Sum of all modules. */
  readonly totalBytes: number;
  /** Sum of all modules gzipped (what Cloudflare's upload size limit counts). */
  readonly gzipBytes: number;
  /** {@link checkMemoryBudget}'s estimate for the models. */
  readonly estimatedMemoryBytes: number;
}

/** Model file name in the bundle: its base name, made unique and module-safe. */
function moduleNames(paths: readonly string[]): string[] {
  const seen = new Set<string>();
  return paths.map((p) => {
    const stem = basename(p).replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9._-]/g, '_') || 'model';
    let name = `${stem}.onnx`;
    for (let i = 2; seen.has(name); i++) name = `${stem}-${i}.onnx`;
    seen.add(name);
    return name;
  });
}

async function readConfig(modelPath: string): Promise<unknown> {
  const path = modelPath.replace(/\.onnx$/i, '') + '.config.json';
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Generated modules (`omniserve:…`, given as source text), and the `.wasm`/`.onnx` imports
 * kept as imports: the files are copied beside worker.js, and workerd links them as modules.
 */
function bundlePlugin(virtual: Readonly<Record<string, string>>): Plugin {
  return {
    name: 'omniserve-workerd',
    setup(b) {
      b.onResolve({ filter: /^omniserve:/ }, (a) => ({ path: a.path, namespace: 'omniserve' }));
      b.onLoad({ filter: /.*/, namespace: 'omniserve' }, (a) => {
        const contents = virtual[a.path];
        if (contents === undefined) throw new Error(`no generated module ${a.path}`);
        return { contents, loader: 'js' };
      });
      b.onResolve({ filter: /\.(wasm|onnx)$/ }, (a) => ({ path: a.path, external: true }));
    },
  };
}

/** Copies onnxruntime-web's `ort-wasm-simd-threaded.wasm` into `outDir` (a CompiledWasm module there); returns its path. */
export async function copyOrtWasm(outDir: string): Promise<string> {
  const to = join(outDir, WASM_FILE);
  await copyFile(createRequire(import.meta.url).resolve(`onnxruntime-web/${WASM_FILE}`), to);
  return to;
}

/**
 * Bundles a Worker entry into one ESM file the way the Workers bundle is built: browser builds
 * of every package, `.wasm`/`.onnx` imports left for workerd to link, and the `omniserve:…`
 * modules in `virtual` generated. Exported for test Workers (test/workerd/).
 */
export async function bundleWorker(o: { entry: string; outfile: string; virtual: Readonly<Record<string, string>>; minify?: boolean }): Promise<void> {
  await build({
    entryPoints: [o.entry],
    outfile: o.outfile,
    bundle: true,
    format: 'esm',
    // Browser builds of every package (onnxruntime-web/wasm → ort.wasm.bundle.min.mjs,
    // the glue embedded); `workerd` first for packages that have a Workers build.
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    target: 'es2022',
    minify: o.minify ?? true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [bundlePlugin(o.virtual)],
  });
}

/** Builds the bundle into `outDir`. */
export async function buildWorkerd(options: BuildWorkerdOptions = {}): Promise<BuiltWorker> {
  const outDir = resolve(options.outDir ?? join(ROOT, '.tmp/workerd'));
  const modelPaths = (options.models?.length ? options.models : [join(ROOT, 'models/breast-cancer.onnx')]).map((p) => resolve(p));
  const names = moduleNames(modelPaths);
  const sizes = await Promise.all(modelPaths.map(async (p) => (await stat(p)).size));
  // Refuse before building anything: a bundle that cannot start is no use.
  const estimatedMemoryBytes = checkMemoryBudget(names.map((name, i) => ({ name, bytes: sizes[i]! })));
  const configs = await Promise.all(modelPaths.map(readConfig));

  const manifest = [
    ...names.map((n, i) => `import m${i} from ${JSON.stringify(`./${n}`)};`),
    `export const models = [${names.map((n, i) =>
      `{ file: ${JSON.stringify(n)}, bytes: m${i}, config: ${JSON.stringify(configs[i]) ?? 'undefined'} }`).join(', ')}];`,
  ].join('\n');

  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await copyOrtWasm(outDir);
  await Promise.all(modelPaths.map((p, i) => copyFile(p, join(outDir, names[i]!))));

  const entryOut = join(outDir, 'worker.js');
  await bundleWorker({ entry: ENTRY, outfile: entryOut, virtual: { [MANIFEST]: manifest }, minify: options.minify ?? true });

  const modules: WorkerModule[] = [];
  const add = async (type: WorkerModule['type'], path: string) => modules.push({ type, path, bytes: (await stat(path)).size });
  await add('ESModule', entryOut);
  await add('CompiledWasm', join(outDir, WASM_FILE));
  for (const n of names) await add('Data', join(outDir, n));
  let gzipBytes = 0;
  for (const m of modules) gzipBytes += gzipSync(await readFile(m.path), { level: 9 }).byteLength;
  const totalBytes = modules.reduce((n, m) => n + m.bytes, 0);
  return { outDir, modules, totalBytes, gzipBytes, estimatedMemoryBytes };
}

const mb = (n: number) => `${(n / (1024 * 1024)).toFixed(2)} MiB`;

/** The size report the CLI prints. */
export function describeBuild(b: BuiltWorker): string {
  const rows = b.modules.map((m) => `  ${relative(b.outDir, m.path).padEnd(32)} ${m.type.padEnd(13)} ${mb(m.bytes).padStart(10)}`);
  return [
    `workerd bundle in ${relative(process.cwd(), b.outDir) || '.'}:`,
    ...rows,
    `  total ${mb(b.totalBytes)}, gzipped ${mb(b.gzipBytes)} (Workers upload limit: 3 MiB free plan, 10 MiB paid)`,
    `  estimated isolate memory for the models: ${mb(b.estimatedMemoryBytes)} of 128 MiB`,
  ].join('\n');
}

function parseArgs(argv: readonly string[]): BuildWorkerdOptions {
  const models: string[] = [];
  let outDir: string | undefined;
  let minify = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--model') models.push(value());
    else if (a === '--out') outDir = value();
    else if (a === '--no-minify') minify = false;
    else if (a === '--help' || a === '-h') {
      console.log('usage: node --import tsx scripts/build-workerd.ts [--model path.onnx]... [--out dir] [--no-minify]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return { models, outDir, minify };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    const built = await buildWorkerd(parseArgs(process.argv.slice(2)));
    console.log(describeBuild(built));
  } catch (e) {
    console.error(`build-workerd: ${(e as Error).message}`);
    process.exit(1);
  }
}
