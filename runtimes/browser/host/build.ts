/**
 * Host side (Node, Bun, Deno): bundles the browser client with esbuild. Entries:
 * `omniserve-browser.js` (the client, `createLocalModel`), `inference.worker.js` (the module
 * worker) and `demo.js` (the /demo page's script); onnxruntime-web's two builds become
 * chunks the worker imports on demand. onnxruntime-web is bundled with its
 * `onnxruntime-web-use-extern-wasm` build, so its emscripten glue (`.mjs`) and `.wasm` are
 * fetched at run time from `wasmPaths` (the app serves them, see wasm/assets.ts), never
 * from a CDN. In memory (`write: false`, what `omniserve serve --demo` does) or to a folder
 * (scripts/build-browser.ts).
 * @module
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const ROOT = resolve(HERE, '../../..');

/** The entries, by output name. */
export const BROWSER_ENTRIES: Readonly<Record<string, string>> = Object.freeze({
  'omniserve-browser': join(ROOT, 'runtimes/browser/index.ts'),
  'inference.worker': join(ROOT, 'runtimes/browser/inference.worker.ts'),
  demo: join(ROOT, 'runtimes/browser/demo/demo.ts'),
});

/** One built file: its path relative to the output folder and its bytes. */
export interface BuiltFile {
  readonly path: string;
  readonly bytes: Uint8Array;
}

/** Options of {@link buildBrowser}. */
export interface BuildBrowserOptions {
  /** Write into this folder (emptied first); unset: keep the files in memory only. */
  readonly outDir?: string;
  /** Default true. */
  readonly minify?: boolean;
}

/**
 * How browser code is bundled (the client here, the Chromium conformance page in
 * test/browser): ES modules for the browser, onnxruntime-web's build that loads its WASM
 * from `wasmPaths` rather than embedding it.
 */
export const BROWSER_BUNDLE = Object.freeze({
  bundle: true,
  format: 'esm',
  platform: 'browser',
  conditions: ['onnxruntime-web-use-extern-wasm', 'browser', 'import'],
  target: 'es2022',
  logLevel: 'error',
  write: false,
} as const);

/** Bundles the client; resolves with every output file. */
export async function buildBrowser(o: BuildBrowserOptions = {}): Promise<BuiltFile[]> {
  // esbuild is a dev dependency: only building needs it.
  const { build } = await import('esbuild');
  const outdir = o.outDir ? resolve(o.outDir) : join(ROOT, '.tmp/browser-memory');
  const result = await build({
    ...BROWSER_BUNDLE,
    conditions: [...BROWSER_BUNDLE.conditions],
    entryPoints: { ...BROWSER_ENTRIES },
    outdir,
    splitting: true,
    // Chunks beside the entries: `import.meta.url` in shared code then points at the folder
    // the worker script and `ort/` live in, whichever chunk the code lands in.
    chunkNames: '[name]-[hash]',
    minify: o.minify ?? true,
    sourcemap: false,
    legalComments: 'none',
  });
  const files = result.outputFiles.map((f) => ({ path: relative(outdir, f.path).split('\\').join('/'), bytes: f.contents }));
  if (o.outDir) {
    await rm(outdir, { recursive: true, force: true });
    for (const f of files) {
      const to = join(outdir, f.path);
      await mkdir(dirname(to), { recursive: true });
      await writeFile(to, f.bytes);
    }
  }
  return files;
}
