/**
 * Prediction cache keys: `pred:{model}:{version}:{sha256 of the canonical JSON of the inputs}`.
 * The version is part of the key, so a new model version never reads an old one's entries.
 *
 * Why SHA-256 and not a faster 128-bit non-cryptographic hash: the inputs are the client's,
 * and hashes like MurmurHash3 have seed-independent collision attacks, so a client could
 * plant a prediction under another input's key. Why @noble/hashes and not Web Crypto:
 * `crypto.subtle.digest` is async and costs ~20 µs a key on Node (a thread-pool hop);
 * noble's synchronous SHA-256 costs ~8 µs for a typical 100-byte record (Node 20, same machine).
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';

const encoder = new TextEncoder();

/** The cache key of one prediction. Synchronous; callers may still `await` it. */
export function predictionCacheKey(model: string, version: string, inputs: unknown): string {
  const digest = sha256(encoder.encode(canonicalJson(inputs)));
  // encodeURIComponent escapes ':' so model "a:b" + version "c" cannot equal "a" + "b:c".
  return `pred:${encodeURIComponent(model)}:${encodeURIComponent(version)}:${base64url(digest)}`;
}

/**
 * JSON with object keys sorted at every level, so `{a, b}` and `{b, a}` hash alike.
 * Unlike JSON.stringify, non-finite numbers stay distinct ("NaN", "Infinity") instead of
 * all becoming null, typed arrays are arrays, and bigints are numbers.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out);
  return out.join('');
}

function write(v: unknown, out: string[]): void {
  switch (typeof v) {
    case 'string':
      out.push(JSON.stringify(v));
      return;
    case 'number':
      out.push(Number.isFinite(v) ? String(v) : `"${String(v)}"`);
      return;
    case 'boolean':
      out.push(v ? 'true' : 'false');
      return;
    case 'bigint':
      out.push(v.toString());
      return;
    case 'object':
      break;
    default:
      // undefined, functions, symbols: as JSON.stringify writes them inside arrays.
      out.push('null');
      return;
  }
  if (v === null) {
    out.push('null');
  } else if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    const items = Array.isArray(v) ? v : Array.from(v as unknown as ArrayLike<unknown>);
    out.push('[');
    for (let i = 0; i < items.length; i++) {
      if (i > 0) out.push(',');
      write(items[i], out);
    }
    out.push(']');
  } else if (typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    write((v as { toJSON(): unknown }).toJSON(), out);
  } else {
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    out.push('{');
    let first = true;
    for (const k of keys) {
      const x = obj[k];
      // Absent and undefined are the same input, as in JSON.
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(k), ':');
      write(x, out);
    }
    out.push('}');
  }
}

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
