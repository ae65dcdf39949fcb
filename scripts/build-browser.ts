/**
 * Builds the browser client into a folder a static host can serve as is:
 *
 *   <out>/lib/omniserve-browser.js   the client (`createLocalModel`), an ES module
 *   <out>/lib/inference.worker.js    the module worker it starts; plus code-split chunks
 *   <out>/lib/demo.js, <out>/index.html, <out>/models/digits.*   the demo page
 *   <out>/lib/ort/*.mjs|*.wasm       onnxruntime-web's assets (wasm/assets.ts), copied from node_modules
 *
 *   node --import tsx scripts/build-browser.ts [--out dir] [--no-minify] [--no-assets]
 *
 * Default out: .tmp/browser/ (git-ignored). `omniserve serve --demo` builds the same bundle
 * in memory and serves the assets from node_modules, so nothing here needs running first.
 * Serve the folder with COOP/COEP headers for WASM threads.
 * @module
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildBrowser, ROOT } from '../runtimes/browser/host/build.ts';
import { copyWasmAssets } from '../runtimes/native/wasm-assets.ts';

/** Builds everything into `outDir`; resolves with the written files and sizes. */
export async function buildBrowserFolder(o: { outDir?: string; minify?: boolean; assets?: boolean } = {}): Promise<{ path: string; bytes: number }[]> {
  const out = resolve(o.outDir ?? join(ROOT, '.tmp/browser'));
  const built = await buildBrowser({ outDir: join(out, 'lib'), minify: o.minify ?? true });
  const written = built.map((f) => join(out, 'lib', f.path));
  await mkdir(join(out, 'models'), { recursive: true });
  await copyFile(join(ROOT, 'runtimes/browser/demo/index.html'), join(out, 'index.html'));
  written.push(join(out, 'index.html'));
  for (const f of ['digits.onnx', 'digits.config.json', 'digits.sample.jsonl']) {
    await copyFile(join(ROOT, 'models', f), join(out, 'models', f));
    written.push(join(out, 'models', f));
  }
  if (o.assets !== false) written.push(...(await copyWasmAssets(join(out, 'lib/ort'))));
  return Promise.all(written.map(async (p) => ({ path: relative(out, p), bytes: (await stat(p)).size })));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--out');
  try {
    const files = await buildBrowserFolder({
      outDir: at >= 0 ? argv[at + 1] : undefined, minify: !argv.includes('--no-minify'), assets: !argv.includes('--no-assets'),
    });
    for (const f of files) console.log(`  ${f.path.padEnd(44)} ${(f.bytes / 1024).toFixed(1).padStart(10)} KiB`);
  } catch (e) {
    console.error(`build-browser: ${(e as Error).message}`);
    process.exit(1);
  }
}
