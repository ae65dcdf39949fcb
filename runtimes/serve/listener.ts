/**
 * How a host listens for HTTP. The serve command is the same on every host; only this
 * differs: @hono/node-server on Node, Bun.serve on Bun, Deno.serve on Deno.
 * @module
 */

/** A fetch handler (what a Hono app's `fetch` is). */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** A listening server. */
export interface Listening {
  readonly port: number;
  /** Stops accepting connections and waits for open requests to end. */
  close(): Promise<void>;
}

/** Starts listening; `reusePort` lets several processes share one port where the host can. */
export type Listen = (fetch: FetchHandler, opts: { port: number; host: string; reusePort?: boolean }) => Promise<Listening>;
