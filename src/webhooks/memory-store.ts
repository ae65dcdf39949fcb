/**
 * A {@link WebhookStore} in process memory: for one-process deployments and tests. Retries
 * survive a crashed delivery (the lease runs out) but not a process restart; use the Redis
 * store (`runtimes/native/webhook-redis-store.ts`) for that.
 * @module
 */
import type { ClaimedDelivery, DeliveryUpdate, WebhookDelivery, WebhookStore } from './types.ts';

interface Slot {
  delivery: WebhookDelivery;
  lease?: string;
}

/** Options for {@link createMemoryWebhookStore}. */
export interface MemoryWebhookStoreOptions {
  /** Finished deliveries kept for status queries (default 10,000, oldest dropped first). */
  maxFinished?: number;
}

/** Creates an empty in-memory store. */
export function createMemoryWebhookStore(options: MemoryWebhookStoreOptions = {}): WebhookStore {
  const { maxFinished = 10_000 } = options;
  const slots = new Map<string, Slot>();
  const finished: string[] = [];
  let leases = 0;

  return {
    async add(delivery) {
      if (slots.has(delivery.id)) return false;
      slots.set(delivery.id, { delivery: strip({ ...delivery, status: 'pending' }) });
      return true;
    },
    async claim(now, limit, leaseMs) {
      const due: Slot[] = [];
      for (const slot of slots.values()) {
        const d = slot.delivery;
        if (d.status === 'pending' && (d.nextAttemptAt ?? 0) <= now) due.push(slot);
      }
      due.sort((a, b) => (a.delivery.nextAttemptAt ?? 0) - (b.delivery.nextAttemptAt ?? 0));
      // Synchronous from here to the return: no other claim can interleave.
      return due.slice(0, limit).map((slot): ClaimedDelivery => {
        const attempts = slot.delivery.attempts + 1;
        slot.lease = `m${++leases}:${attempts}`;
        slot.delivery = { ...slot.delivery, attempts, nextAttemptAt: now + leaseMs };
        return { ...slot.delivery, lease: slot.lease };
      });
    },
    async complete(id, lease, update: DeliveryUpdate) {
      const slot = slots.get(id);
      if (slot === undefined || slot.lease !== lease) return false;
      slot.lease = undefined;
      const { id: _, jobId, url, body, attempts, createdAt } = slot.delivery;
      slot.delivery = strip({ id, jobId, url, body, attempts, createdAt, ...update });
      if (update.status !== 'pending') {
        finished.push(id);
        while (finished.length > maxFinished) slots.delete(finished.shift()!);
      }
      return true;
    },
    async get(id) {
      const slot = slots.get(id);
      return slot === undefined ? null : slot.delivery;
    },
  };
}

/** Drops undefined fields so records compare equal to what Redis gives back. */
function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
