// The in-memory job queue against the shared queue suite.
import { describe } from 'node:test';
import { createMemoryQueue, type MemoryJobQueue } from './memory-queue.ts';
import { runQueueCases } from '../../test/async/queue.case.ts';

describe('memory job queue', () => {
  runQueueCases({
    newQueue: async (s) => createMemoryQueue(s),
    deadIds: async (q) => [...(q as MemoryJobQueue).deadLetters],
  });
});
