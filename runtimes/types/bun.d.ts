// The parts of Bun's modules omniserve's Bun files use.
declare module 'bun:test' {
  export function test(name: string, fn: () => Promise<void> | void, timeout?: number): void;
  export function describe(name: string, fn: () => void): void;
}
