// The few Deno globals omniserve's Deno files use (no @ts-ignore, no full deno.d.ts).
declare namespace Deno {
  function test(name: string, fn: () => Promise<void> | void): void;
  function test(options: { name: string; fn: () => Promise<void> | void; sanitizeOps?: boolean; sanitizeResources?: boolean }): void;
  const version: { deno: string };
}
declare namespace Deno {
  interface HttpServer { finished: Promise<void>; shutdown(): Promise<void> }
  function serve(
    options: { port?: number; hostname?: string; reusePort?: boolean; onListen?: (addr: { port: number; hostname: string }) => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): HttpServer;
}
declare namespace Deno {
  function execPath(): string;
  const mainModule: string;
}
declare namespace Deno {
  const args: string[];
  function writeTextFile(path: string, data: string): Promise<void>;
}
