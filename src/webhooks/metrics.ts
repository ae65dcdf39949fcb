/**
 * Webhook metrics: `omniserve_webhook_deliveries_total{outcome}`, one count per attempt,
 * outcome `delivered`, `retry`, `failed` or `refused` (SSRF guard).
 * @module
 */
import type { MetricsRegistry } from '../metrics/registry.ts';
import type { WebhookOutcome } from './dispatcher.ts';

/** Registers the counter and returns an `onOutcome` for the dispatcher that feeds it. */
export function webhookMetrics(registry: MetricsRegistry): (outcome: WebhookOutcome) => void {
  const deliveries = registry.counter<'outcome'>({
    name: 'omniserve_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (delivered, retry, failed, refused).',
    labelNames: ['outcome'],
  });
  return (o) => deliveries.inc({ outcome: o.outcome });
}
