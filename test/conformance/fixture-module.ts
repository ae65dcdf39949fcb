/**
 * Build-time half of bundled-fixtures.ts (Node): test/fixtures/'s models and goldens written
 * into a generated module as base64 by path, for bundles that have no file system.
 * @module
 */
import { readdir, readFile } from 'node:fs/promises';

/** Source of a module `export const files = {path: base64}` holding test/fixtures/{models,goldens}. */
export async function fixtureModule(): Promise<string> {
  const root = new URL('../fixtures/', import.meta.url);
  const files: Record<string, string> = {};
  for (const dir of ['models', 'goldens']) {
    for (const f of await readdir(new URL(`${dir}/`, root))) files[`${dir}/${f}`] = (await readFile(new URL(`${dir}/${f}`, root))).toString('base64');
  }
  return `export const files = ${JSON.stringify(files)};`;
}

