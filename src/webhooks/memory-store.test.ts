/** The in-memory webhook store against the shared store conformance cases. */
import { describe } from 'node:test';
import { webhookStoreCases } from '../../runtimes/native/webhook-store.case.ts';
import { createMemoryWebhookStore } from './memory-store.ts';

describe('memory webhook store', () => {
  webhookStoreCases(async () => createMemoryWebhookStore());
});
