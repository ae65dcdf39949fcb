/**
 * The body of the Open Inference Protocol's binary tensor data extension: the JSON part,
 * then the raw bytes of each binary tensor in order. The server answers binary outputs with
 * it; clients (tests, bench/realtime, bench/gpu) build requests with it. The JSON part's
 * byte count goes in the `Inference-Header-Content-Length` header.
 * @module
 */

/** `json` encoded as UTF-8, followed by every part's bytes. */
export function binaryBody(json: unknown, parts: readonly ArrayBufferView[]): { body: Uint8Array<ArrayBuffer>; headerLength: number } {
  const head = new TextEncoder().encode(JSON.stringify(json));
  let size = head.byteLength;
  for (const p of parts) size += p.byteLength;
  const body = new Uint8Array(size);
  body.set(head);
  let at = head.byteLength;
  for (const p of parts) {
    body.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
    at += p.byteLength;
  }
  return { body, headerLength: head.byteLength };
}
