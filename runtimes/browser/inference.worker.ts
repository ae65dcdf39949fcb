/**
 * The browser's inference worker entry (a module Web Worker): exposes
 * {@link createBrowserWorkerApi} over comlink on the worker's own port. Bundled by
 * scripts/build-browser.ts as `inference.worker.js`.
 * @module
 */
import * as Comlink from 'comlink';
import { createBrowserWorkerApi } from './worker-api.ts';

Comlink.expose(createBrowserWorkerApi());
