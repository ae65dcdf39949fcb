// The parts of Bun's modules omniserve's Bun files use.
declare module 'bun:test' {
  export function test(name: string, fn: () => Promise<void> | void, timeout?: number): void;
  export function describe(name: string, fn: () => void): void;
  export function beforeAll(fn: () => Promise<void> | void, timeout?: number): void;
  export function afterAll(fn: () => Promise<void> | void, timeout?: number): void;
}
declare module 'bun:jsc' {
  export function heapStats(): { heapSize: number; objectCount: number; objectTypeCounts: Record<string, number> };
}

// The Bun global, as far as omniserve uses it.
declare const Bun: {
  readonly version: string;
  /** A garbage collection; `force` runs a full one synchronously. */
  gc(force: boolean): void;
  serve(options: {
    fetch: (request: Request) => Response | Promise<Response>;
    port?: number;
    hostname?: string;
    reusePort?: boolean;
  }): { readonly port: number; stop(closeActiveConnections?: boolean): Promise<void> };
};
