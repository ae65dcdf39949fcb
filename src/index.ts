/**
 * omniserve's Web-API-only core: models, backends, errors. Host entry points live in
 * `runtimes/<host>/`.
 * @module
 */
export { createEngine, type Engine, type RuntimeAdapter } from './engine.ts';
export { Errors, OmniserveError, isOmniserveError, messageOf, type ErrorCode } from './errors.ts';
export { BackendRegistry, parseBackendRequest, BACKEND_REQUESTS, type BackendRequest } from './backends/registry.ts';
export { detectHost, requireWebGpuAdapter, type HostInfo, type HostName } from './backends/host.ts';
export { createOrtBackend, type OrtModule, type OrtBackendOptions } from './backends/onnxruntime.ts';
export { createWebBackends, type WebBackendOptions } from './backends/web.ts';
export type { Backend, BackendId, BackendStatus, InferenceHandle, SessionOptions } from './backends/types.ts';
export { ModelRegistry, type LoadModelOptions, type ModelSource, type ReadFile } from './core/registry.ts';
export { Model, type InferOptions, type ModelMetadata } from './core/model.ts';
export { parseModelConfig, type ModelConfig, type ModelConfigInput } from './core/model-config.ts';
export type { FeatureRecord } from './core/features.ts';
export type { PredictionResult } from './core/postprocess.ts';
export { fromHalf, numericData, tensorFromNumbers, toHalf, toPlainArray, type DType, type TensorData, type TensorSpec } from './core/tensor.ts';
