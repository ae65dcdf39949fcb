/**
 * Throwaway Kafka clusters for tests, backed by librdkafka's mock cluster
 * (see mock-broker/mock-broker.c). Real Kafka protocol on loopback, no JVM,
 * starts in milliseconds.
 *
 * Retention: the mock keeps only the newest 5 MiB (or 100,000 messages) of
 * each partition and silently drops older message sets (hard-coded in
 * librdkafka's rdkafka_mock.c). A backlog bigger than that per partition
 * loses its oldest events before anyone reads them: spread big backlogs
 * over more partitions, or produce them paced.
 */
import { execFile } from 'node:child_process';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeExit, spawnProcess, type ManagedProcess } from './process.ts';

/** Options for {@link startKafkaBroker}. */
export interface KafkaBrokerOptions {
  /** Number of brokers, ids 1..N (default 3, so leaders spread out). */
  brokers?: number;
  /** Topics to create before resolving: name → partition count. */
  topics?: Record<string, number>;
}

/** A running mock Kafka cluster. */
export interface KafkaBroker {
  /** Comma-separated `127.0.0.1:PORT` list, one entry per broker. */
  readonly bootstrapServers: string;
  /** `bootstrapServers` split, as KafkaJS-style `brokers` wants it. */
  readonly brokers: string[];
  readonly process: ManagedProcess;
  /**
   * Creates a topic. Replication defaults to min(3, brokers). The mock
   * cluster does not implement the CreateTopics admin API, so tests must
   * create topics here (or rely on auto-creation, 4 partitions).
   */
  createTopic(name: string, partitions: number, replication?: number): Promise<void>;
  /**
   * Drops broker `id`'s connections and refuses new ones. Partition
   * leadership does not move, so its partitions stall until `brokerUp`.
   */
  brokerDown(id: number): Promise<void>;
  /** Lets broker `id` accept connections again. */
  brokerUp(id: number): Promise<void>;
  /** Delays every response of broker `id` by `ms` (0 to clear). */
  setRtt(id: number, ms: number): Promise<void>;
  /** Moves the leader of `topic`/`partition` to broker `id`. */
  setLeader(topic: string, partition: number, id: number): Promise<void>;
  /**
   * Fails the next requests of one type across the cluster with these Kafka error codes,
   * one request per code, in order (`apiKey` 0 Produce, 1 Fetch, 8 OffsetCommit, …).
   */
  pushRequestErrors(apiKey: number, errors: readonly number[]): Promise<void>;
  /** Sends a raw mock-broker command line (see mock-broker.c). */
  command(line: string): Promise<void>;
  /** Shuts the cluster down and waits for the process to exit. */
  stop(): Promise<void>;
}

const SUPPORT_DIR = fileURLToPath(new URL('.', import.meta.url));
const SOURCE = join(SUPPORT_DIR, 'mock-broker', 'mock-broker.c');
/** Git-ignored build cache shared by all test files. */
const BIN_DIR = join(SUPPORT_DIR, '..', '..', '.tmp', 'bin');
const BINARY = join(BIN_DIR, 'mock-broker');

const COMMAND_TIMEOUT_MS = 10_000;
/** Kafka's own topic-name rule; also keeps names safe in the line protocol. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

let building: Promise<string> | undefined;

/**
 * Returns the path of the mock-broker binary, compiling it when missing or
 * older than its source. Compiles to a unique temp name and renames, so
 * test files building in parallel never see a half-written binary.
 */
export function buildMockBroker(): Promise<string> {
  building ??= build().finally(() => {
    building = undefined;
  });
  return building;
}

async function build(): Promise<string> {
  const [src, bin] = await Promise.all([stat(SOURCE), stat(BINARY).catch(() => undefined)]);
  if (bin && bin.mtimeMs >= src.mtimeMs) return BINARY;

  await mkdir(BIN_DIR, { recursive: true });
  const tmp = `${BINARY}.${process.pid}.${Date.now()}.tmp`;
  try {
    await compile(['-O2', '-Wall', '-o', tmp, SOURCE, '-lrdkafka']);
    await rename(tmp, BINARY);
  } finally {
    await rm(tmp, { force: true });
  }
  return BINARY;
}

function compile(args: string[]): Promise<void> {
  const cc = process.env.CC ?? 'cc';
  return new Promise((resolve, reject) => {
    execFile(cc, args, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(
          new Error(
            `C compiler '${cc}' not found, needed to build the Kafka mock broker: ` +
              'install the Debian package gcc (or build-essential)',
            { cause: err },
          ),
        );
      }
      const hint = /rdkafka/.test(stderr)
        ? 'librdkafka headers or library missing: install the Debian package ' +
          'librdkafka-dev (apt-get install librdkafka-dev)'
        : 'compiling the Kafka mock broker failed';
      reject(new Error(`${hint}\n$ ${cc} ${args.join(' ')}\n${stderr}`, { cause: err }));
    });
  });
}

/**
 * Starts a mock Kafka cluster on loopback and creates `options.topics`.
 * Throws (never skips) when the mock broker cannot be built or started.
 */
export async function startKafkaBroker(options: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const brokerCount = options.brokers ?? 3;
  if (!Number.isInteger(brokerCount) || brokerCount < 1) {
    throw new RangeError(`brokers must be a positive integer, got ${brokerCount}`);
  }
  const proc = await spawnProcess(await buildMockBroker(), [String(brokerCount)], {
    name: 'mock-broker',
    stdin: true,
  });

  let bootstrapServers: string;
  try {
    const hello = JSON.parse(await proc.lines.next(COMMAND_TIMEOUT_MS)) as {
      bootstrap_servers?: unknown;
    };
    if (typeof hello.bootstrap_servers !== 'string') throw new Error('no bootstrap_servers');
    bootstrapServers = hello.bootstrap_servers;
  } catch (err) {
    await proc.stop({ signal: 'SIGKILL' });
    throw new Error(`mock-broker failed to start: ${(err as Error).message}\n${proc.outputTail()}`, {
      cause: err,
    });
  }

  // One command in flight at a time: answers carry no id, so order is
  // the only way to pair them with requests.
  let queue: Promise<unknown> = Promise.resolve();
  let desynced: Error | undefined;
  const command = (line: string): Promise<void> => {
    if (/[\r\n]/.test(line)) return Promise.reject(new Error('mock-broker commands are one line'));
    const run = queue.then(async () => {
      // After a lost answer, a late one would be paired with the wrong
      // command; refuse rather than report nonsense.
      if (desynced) throw new Error(`mock-broker protocol out of sync: ${desynced.message}`);
      try {
        await exchange(proc, line);
      } catch (err) {
        if (!(err instanceof CommandError)) desynced = err as Error;
        throw err;
      }
    });
    queue = run.catch(() => {});
    return run;
  };

  const broker: KafkaBroker = {
    bootstrapServers,
    brokers: bootstrapServers.split(','),
    process: proc,
    command,
    async createTopic(name, partitions, replication) {
      if (!TOPIC_NAME.test(name)) throw new Error(`invalid topic name: ${JSON.stringify(name)}`);
      return command(`topic ${name} ${partitions}${replication ? ` ${replication}` : ''}`);
    },
    brokerDown: (id) => command(`broker_down ${id}`),
    brokerUp: (id) => command(`broker_up ${id}`),
    setRtt: (id, ms) => command(`rtt ${id} ${ms}`),
    async pushRequestErrors(apiKey, errors) {
      if (errors.length === 0 || errors.length > 32 || ![apiKey, ...errors].every(Number.isInteger)) {
        throw new RangeError('pushRequestErrors: an integer api key and 1-32 integer error codes');
      }
      return command(`errors ${apiKey} ${errors.join(' ')}`);
    },
    async setLeader(topic, partition, id) {
      if (!TOPIC_NAME.test(topic)) throw new Error(`invalid topic name: ${JSON.stringify(topic)}`);
      return command(`leader ${topic} ${partition} ${id}`);
    },
    async stop() {
      if (proc.hasExited()) return;
      // EOF makes the program destroy the cluster and exit 0 on its own;
      // signals are only the fallback for a wedged process.
      proc.child.stdin?.end();
      const timer = setTimeout(() => void proc.stop(), 3_000);
      try {
        await proc.exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };

  try {
    for (const [name, partitions] of Object.entries(options.topics ?? {})) {
      await broker.createTopic(name, partitions);
    }
  } catch (err) {
    await broker.stop();
    throw err;
  }
  return broker;
}

/** The mock broker answered and said no; the protocol is still in step. */
class CommandError extends Error {}

async function exchange(proc: ManagedProcess, line: string): Promise<void> {
  if (proc.hasExited()) {
    throw new Error(`mock-broker has exited (${describeExit(await proc.exited)}): ${line}`);
  }
  proc.writeLine(line);
  const answer = JSON.parse(await proc.lines.next(COMMAND_TIMEOUT_MS)) as {
    ok: boolean;
    error?: string;
  };
  if (!answer.ok) throw new CommandError(`mock-broker: '${line}' failed: ${answer.error}`);
}
