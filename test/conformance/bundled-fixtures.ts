/**
 * The conformance suite's fixtures where there is no file system (workerd, the browser), in
 * the bundle (Web APIs only): `bundledFixtures(files)` reads back the module fixture-module.ts
 * generated at build time, and its `readFile` answers a runtime for `fixtures/<path>` model
 * sources, with ENOENT for a missing one as a file system would.
 * @module
 */
import type { FixtureReader } from './conformance.case.ts';

/** What bundled model sources start with. */
const PREFIX = 'fixtures/';

/** The fixtures of a generated module, with a `readFile` for the runtime adapter. */
export function bundledFixtures(files: Readonly<Record<string, string>>): FixtureReader & { readFile(path: string): Promise<Uint8Array> } {
  const decoded = new Map<string, Uint8Array>();
  /** A copy (cases may slice and hand the bytes on), or undefined. */
  const get = (rel: string): Uint8Array | undefined => {
    let b = decoded.get(rel);
    if (!b) {
      const b64 = files[rel];
      if (b64 === undefined) return undefined;
      const s = atob(b64);
      b = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
      decoded.set(rel, b);
    }
    return b.slice();
  };
  return {
    bytes(rel) {
      const b = get(rel);
      if (!b) throw new Error(`no fixture ${rel} in the bundle`);
      return b;
    },
    source: (rel) => PREFIX + rel,
    async readFile(path) {
      const b = path.startsWith(PREFIX) ? get(path.slice(PREFIX.length)) : undefined;
      if (!b) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
      return b;
    },
  };
}
