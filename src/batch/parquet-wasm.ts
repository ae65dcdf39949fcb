/**
 * parquet-wasm's WebAssembly instance, once per thread. Apart from ./arrow-io.ts so that a
 * thread that only plans (reads footers) never loads Arrow.
 * @module
 */
import { initSync } from 'parquet-wasm/esm';

let ready = false;

/** Instantiates parquet-wasm from its module bytes (`parquet-wasm/esm/parquet_wasm_bg.wasm`) or a compiled module. */
export function initParquetWasm(module: BufferSource | WebAssembly.Module): void {
  if (ready) return;
  initSync({ module });
  ready = true;
}

/** True once `initParquetWasm` ran in this thread. */
export function parquetWasmReady(): boolean {
  return ready;
}
