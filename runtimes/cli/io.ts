/**
 * Line I/O for the CLI on Node-API hosts (Node, Bun, Deno all provide node:fs, node:readline).
 * @module
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/** Streams lines from a file path, or from `stdin` when the path is absent or "-". */
export function readLines(path: string | undefined, stdin: Readable): AsyncIterable<string> {
  const input = path === undefined || path === '-' ? stdin : createReadStream(path);
  return createInterface({ input, crlfDelay: Infinity });
}

/** Writes text, waiting for the stream to drain when its buffer is full. */
export async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', resolve));
}
