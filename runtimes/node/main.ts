/**
 * Node entry point: `node bin/omniserve.mjs …` (which loads this through tsx).
 * @module
 */
import { runCli } from '../cli/main.ts';
import { createNativeRuntime } from '../native/runtime.ts';
import { listenNode } from './listen.ts';
import { spawnNodeChild } from './spawn-child.ts';

const code = await runCli(process.argv.slice(2), () => createNativeRuntime(), process, listenNode, spawnNodeChild);
process.exitCode = code;
// Open handles (a cluster IPC channel, native thread pools) must not keep a finished
// command alive; an unref'd timer only fires if something else still holds the loop.
setTimeout(() => process.exit(code), 1000).unref();
