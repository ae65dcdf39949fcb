/**
 * omniserve in the browser: the client bundle's entry (`omniserve-browser.js`, built by
 * scripts/build-browser.ts). See docs/browser.md.
 * @module
 */
export { createLocalModel, defaultModelLimit, type LocalModel, type LocalModelOptions } from './local-model.ts';
export { createServerPredictor, type ServerPredictor, type ServerPredictorOptions } from './server-client.ts';
export { digestHeaderSha256, loadModelFile, sha256Hex } from './model-cache.ts';
export type { BackendChoice, LocalBackend, LocalModelInfo, ModelFileInfo, PredictionView, PredictResponse } from './types.ts';
export { OmniserveError, isOmniserveError } from '../../src/errors.ts';
