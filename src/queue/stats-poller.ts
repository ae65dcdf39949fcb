/**
 * Keeps a fresh snapshot of the queue's depth and oldest job for the metrics gauges: the
 * queue answers asynchronously (a Redis round trip), a scrape reads synchronously.
 * @module
 */
import type { JobMetrics, JobQueueSnapshot } from '../metrics/serving-metrics.ts';
import type { JobIntake } from './types.ts';

/** Polls `queue.stats()` every `intervalMs` (default 1,000) into the gauges; returns a stop function. */
export function pollQueueStats(queue: JobIntake, metrics: JobMetrics, intervalMs = 1_000): () => void {
  let snap: JobQueueSnapshot | undefined;
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      snap = await queue.stats();
    } catch {
      // Queue unreachable: the gauges show nothing rather than a stale value.
      snap = undefined;
    } finally {
      busy = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), intervalMs);
  // Never keep a process alive for a gauge (Deno and browsers have no unref).
  (timer as unknown as { unref?: () => void }).unref?.();
  metrics.setQueueSource(() => snap);
  return () => {
    clearInterval(timer);
    metrics.setQueueSource(() => undefined);
  };
}
