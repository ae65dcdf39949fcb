/**
 * onnxruntime-node backends for the hosts that load Node-API addons (Node, Bun, Deno).
 * The only file that imports onnxruntime-node.
 * @module
 */
import { existsSync, readdirSync } from 'node:fs';
import { platform } from 'node:os';
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
        if (!hasNvidiaDevice()) throw new Error('no NVIDIA GPU (no /dev/nvidiactl)');
      },
      load: loadNative,
    }),
    createOrtBackend({
      id: 'native-webgpu', package: 'onnxruntime-node', provider: 'webgpu', device: 'gpu',
      // On Linux without a GPU device node Dawn can only find software Vulkan (lavapipe),
      // which it rejects; trying costs ~70 MiB of resident memory that stays after the
      // failure (Dawn, the Vulkan ICDs, LLVM), so skip it and say why.
      precheck: async () => {
        if (platform() === 'linux' && !hasGpuDeviceNode()) throw new Error('no GPU device node (no /dev/dri/renderD*, /dev/nvidiactl or /dev/dxg)');
      },
      load: loadNative,
    }),
    createOrtBackend({ id: 'native-cpu', package: 'onnxruntime-node', provider: 'cpu', device: 'cpu', load: loadNative }),
  ];
}

/** Linux: a render node (Mesa: AMD, Intel), NVIDIA's driver, or WSL's GPU exists. */
function hasGpuDeviceNode(): boolean {
  if (hasNvidiaDevice() || existsSync('/dev/dxg')) return true;
  try {
    return readdirSync('/dev/dri').some((n) => n.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** True when a device node of an NVIDIA driver exists (a hint for the host report). */
export function hasNvidiaDevice(): boolean {
  return existsSync('/dev/nvidiactl');
}
