/**
 * onnxruntime-node backends for the hosts that load Node-API addons (Node, Bun, Deno).
 * The only file that imports onnxruntime-node.
 * @module
 */
import { existsSync } from 'node:fs';
import { createOrtBackend, type Backend, type OrtModule } from '../../src/index.ts';

const loadNative = () => import('onnxruntime-node').then((m) => ((m as unknown as { default?: OrtModule }).default ?? m) as unknown as OrtModule);

/** native-cuda, native-webgpu, native-cpu, best first. */
export function createNativeBackends(opts: { cudaDeviceId?: number } = {}): Backend[] {
  return [
    createOrtBackend({
      id: 'native-cuda', package: 'onnxruntime-node', provider: 'cuda', device: 'gpu',
      providerOptions: { deviceId: opts.cudaDeviceId ?? 0 },
      // Without the driver's device node, CUDA cannot work: say so instead of a loader error.
      precheck: async () => {
        if (!existsSync('/dev/nvidiactl')) throw new Error('no NVIDIA GPU (no /dev/nvidiactl)');
      },
      load: loadNative,
    }),
    createOrtBackend({ id: 'native-webgpu', package: 'onnxruntime-node', provider: 'webgpu', device: 'gpu', load: loadNative }),
    createOrtBackend({ id: 'native-cpu', package: 'onnxruntime-node', provider: 'cpu', device: 'cpu', load: loadNative }),
  ];
}

/** True when a device node of an NVIDIA driver exists (a hint for the host report). */
export function hasNvidiaDevice(): boolean {
  return existsSync('/dev/nvidiactl');
}
