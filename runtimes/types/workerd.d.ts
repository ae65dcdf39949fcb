// The modules a Cloudflare Workers bundle imports that TypeScript cannot see: CompiledWasm
// and Data modules (rules in runtimes/workerd/wrangler.toml) and the model list
// scripts/build-workerd.ts generates. No @cloudflare/workers-types: its globals clash with
// the DOM lib the rest of the project uses.

/** A CompiledWasm module: compiled by the host before the Worker starts. */
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}

/** A Data module: the file's bytes. */
declare module '*.onnx' {
  const bytes: ArrayBuffer;
  export default bytes;
}

/** Generated at build time: each bundled model's module, file name and config. */
declare module 'omniserve:bundled-models' {
  export const models: readonly { readonly file: string; readonly bytes: ArrayBuffer; readonly config?: unknown }[];
}
