/**
 * The conformance suite's fixtures on Node, Bun and Deno: test/fixtures/ read from disk, and
 * models loaded by their absolute paths (what the native runtime's readFile takes).
 * @module
 */
import { readFileSync } from 'node:fs';
import type { FixtureReader } from './conformance.case.ts';

const FIXTURES = new URL('../fixtures/', import.meta.url);
const pathOf = (rel: string) => decodeURIComponent(new URL(rel, FIXTURES).pathname);

/** Reads test/fixtures/ from disk. */
export const nodeFixtures: FixtureReader = {
  bytes: (rel) => new Uint8Array(readFileSync(pathOf(rel))),
  source: pathOf,
};
