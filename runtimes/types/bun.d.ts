// The parts of Bun's modules omniserve's Bun files use.
declare module 'bun:test' {
  export function test(name: string, fn: () => Promise<void> | void, timeout?: number): void;
  export function describe(name: string, fn: () => void): void;
  export function beforeAll(fn: () => Promise<void> | void, timeout?: number): void;
  export function afterAll(fn: () => Promise<void> | void, timeout?: number): void;
}

// The Bun global, as far as omniserve uses it.
declare const Bun: {
  readonly version: string;
  serve(options: {
    fetch: (request: Request) => Response | Promise<Response>;
    port?: number;
    hostname?: string;
    reusePort?: boolean;
  }): { readonly port: number; stop(closeActiveConnections?: boolean): Promise<void> };
};
