/**
 * Finds onnxruntime-web's WASM assets in node_modules and copies them where an app or a
 * bundle serves them from (see `wasm/assets.ts` for which files each build needs).
 * @module
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { allWasmAssets, WASM_ASSETS, type WasmBuild } from '../../wasm/assets.ts';

const require = createRequire(import.meta.url);

/** The folder holding onnxruntime-web's built files. */
export function ortWebDistDir(): string {
  // The package's `main` is dist/ort.node.min.js: its folder is the dist folder.
  return dirname(require.resolve('onnxruntime-web'));
}

/** The absolute path of one asset. */
export function resolveWasmAsset(name: string): string {
  if (!allWasmAssets().includes(name)) throw new Error(`unknown onnxruntime-web asset "${name}"; known: ${allWasmAssets().join(', ')}`);
  return join(ortWebDistDir(), name);
}

/** Copies the assets of `builds` into `dest`; returns the written paths. */
export async function copyWasmAssets(dest: string, builds: readonly WasmBuild[] = ['wasm', 'webgpu']): Promise<string[]> {
  await mkdir(dest, { recursive: true });
  const out: string[] = [];
  for (const name of new Set(builds.flatMap((b) => WASM_ASSETS[b]))) {
    const to = join(dest, name);
    await copyFile(resolveWasmAsset(name), to);
    out.push(to);
  }
  return out;
}
