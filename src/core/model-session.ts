/**
 * Where a model's runs go: its inference session, and what happens when the device behind
 * it refuses a run (web-webgpu only: the error scopes of onnxruntime.ts). A run the device
 * cannot take whole is split along the batch dimension on the same device; a refusal that
 * splitting does not get past moves the model to the request's next backend (when the load
 * allowed it), or stands. {@link Model} runs through one of these.
 * @module
 */
import { isOmniserveError, type OmniserveError } from '../errors.ts';
import type { Backend, BackendId, InferenceHandle, SessionOptions } from '../backends/types.ts';
import { concatRows, type TensorData, type TensorSpec } from './tensor.ts';

/**
 * Where a model goes when its backend's device refuses a run: the request's next backend
 * after `after` (undefined when there is none, or the request pinned one).
 */
export type NextBackend = (after: BackendId) => Promise<Backend | undefined>;

/** What moving to another backend mid-flight needs: the bytes the session was made from. */
export interface MoveSource {
  readonly bytes: Uint8Array;
  readonly session: SessionOptions | undefined;
  readonly next: NextBackend;
}

type Feeds = Readonly<Record<string, TensorData>>;
type Outputs = Record<string, TensorData>;

/** A model's session, moved or split when its device refuses runs. */
export class ModelSession {
  #handle: InferenceHandle;
  #backend: Backend;
  /** Set while runs may still move to the next backend ({@link ModelSession.allowMoves}). */
  #source: MoveSource | undefined;
  /** The move in progress: runs the device refused meanwhile wait for it. */
  #moving: Promise<InferenceHandle | undefined> | undefined;
  /** Sessions left behind by a move, freed once no run is in flight ({@link ModelSession.freeLeft}). */
  #left: InferenceHandle[] = [];
  /** No more moves: the model is being released. */
  #stopped = false;
  /**
   * The most rows a run on this session takes since its device refused a larger one:
   * bigger runs go in parts of at most this many rows. Forgotten on a move.
   */
  #rowCap: number | undefined;
  /** The most rows a run on this session has answered (web-webgpu only: what makes a refused larger run worth splitting). */
  #fitRows = 0;
  /** A split run's outputs could not be joined (they do not lead with the rows): never split again. */
  #noSplit = false;
  /** The batch dimension is fixed (the model takes exactly that many rows): no split. */
  readonly #fixedBatch: boolean;

  /**
   * `fixedBatch`: the model's batch dimension is fixed (it is never split); `onMove` hears of
   * each move, from which backend to which and why.
   */
  constructor(handle: InferenceHandle, backend: Backend, fixedBatch: boolean, private readonly onMove: (from: BackendId, to: Backend, reason: string) => void) {
    this.#handle = handle;
    this.#backend = backend;
    this.#fixedBatch = fixedBatch;
  }

  get handle(): InferenceHandle {
    return this.#handle;
  }

  /** The backend runs go to: the one the model loaded on, or the one a refused run moved it to. */
  get backend(): Backend {
    return this.#backend;
  }

  /** From now on a refused run moves the model (see {@link Model.create}'s `next`). */
  allowMoves(source: MoveSource): void {
    this.#source = source;
  }

  /**
   * One run, in parts when the device cannot take it whole. A run the device refused for
   * want of memory (web-webgpu: `details.outOfMemory`), or refused otherwise when it is
   * larger than a run the device has answered (a buffer over the device's size limit, a
   * validation error), is split in halves along the batch dimension, each half run (and
   * split again if it too is refused), and the outputs joined: the same answers, from the
   * same device. The size that failed is remembered, so later runs larger than half of it
   * go in parts at once instead of failing first. Only when one row is refused, or the run
   * cannot be split (a fixed batch dimension, inputs that disagree on their first
   * dimension, outputs that do not lead with the rows), does the refusal go on to
   * {@link ModelSession.#afterRefusal}: the move to the next backend, or the error.
   */
  async run(feeds: Feeds): Promise<Outputs> {
    const handle = this.#handle;
    const cap = this.#noSplit ? undefined : this.#rowCap;
    if (cap !== undefined) {
      const rows = leadingRows(feeds);
      if (rows !== undefined && rows > cap) {
        const joined = await this.#inParts(feeds, rows, cap);
        if (joined) return joined;
      }
    }
    try {
      const out = await handle.run(feeds);
      if (this.#backend.id === 'web-webgpu' && this.#handle === handle) this.#fitRows = Math.max(this.#fitRows, leadingRows(feeds) ?? 0);
      return out;
    } catch (e) {
      const rows = this.#splittable(handle, e) ? leadingRows(feeds) : undefined;
      if (rows !== undefined && rows > 1 && this.#worthSplitting(e as OmniserveError, rows)) {
        const half = Math.ceil(rows / 2);
        this.#rowCap = Math.min(this.#rowCap ?? half, half);
        const joined = await this.#inParts(feeds, rows, half);
        if (joined) return joined;
      }
      return await (await this.#afterRefusal(handle, e)).run(feeds);
    }
  }

  /** Frees the sessions a move left behind (call when no run is in flight). */
  freeLeft(): void {
    for (const h of this.#left.splice(0)) void h.release().catch(() => {});
  }

  /** Stops moves: a run refused from now on keeps its error. */
  stopMoves(): void {
    this.#stopped = true;
  }

  /** Frees every session, once a move in progress has settled (no run may be in flight). */
  async release(): Promise<void> {
    this.#stopped = true;
    await this.#moving;
    this.#source = undefined;
    await Promise.all([this.#handle, ...this.#left.splice(0)].map((h) => h.release()));
  }

  /** A refusal by `handle`'s device that splitting the run may get past. */
  #splittable(handle: InferenceHandle, e: unknown): e is OmniserveError {
    return isOmniserveError(e, 'INFERENCE_FAILED') && e.details?.['deviceRefused'] === true && this.#handle === handle && !this.#noSplit && !this.#fixedBatch;
  }

  /**
   * Out of memory, or another refusal of a run larger than one the device has answered: a
   * size limit (a buffer over the device's maximum), not a feature it lacks, which no split
   * gets past (a run refused with nothing answered before moves at once).
   */
  #worthSplitting(e: OmniserveError, rows: number): boolean {
    return e.details?.['outOfMemory'] === true || (this.#fitRows > 0 && this.#fitRows < rows);
  }

  /** `feeds` run in parts of at most `size` rows, outputs joined; undefined when an output does not lead with its part's rows. */
  async #inParts(feeds: Feeds, rows: number, size: number): Promise<Outputs | undefined> {
    const parts: Outputs[] = [];
    for (let at = 0; at < rows; at += size) {
      const n = Math.min(size, rows - at);
      const out = await this.run(sliceRows(feeds, rows, at, n));
      if (!Object.values(out).every((t) => t.dims[0] === n)) {
        this.#noSplit = true;
        return undefined;
      }
      parts.push(out);
    }
    return joinRows(parts, rows);
  }

  /**
   * The session to retry a failed run on: when the device refused the run on web-webgpu and
   * the request allows another backend, the model moves there (once: concurrent refused runs
   * share the move); otherwise the run's error stands.
   */
  async #afterRefusal(failed: InferenceHandle, e: unknown): Promise<InferenceHandle> {
    if (!isOmniserveError(e, 'INFERENCE_FAILED') || e.details?.['deviceRefused'] !== true) throw e;
    if (this.#handle !== failed) return this.#handle;
    if (!this.#moving) {
      if (!this.#source || this.#stopped) throw e;
      this.#moving = this.#moveOn(this.#source, e.message).finally(() => (this.#moving = undefined));
    }
    const moved = await this.#moving;
    if (!moved) throw e;
    return moved;
  }

  /** Makes a session on the request's next backend and switches to it; undefined when none can take the model. */
  async #moveOn(src: MoveSource, reason: string): Promise<InferenceHandle | undefined> {
    // Whatever happens, this is the only try: a model that cannot move keeps its errors.
    this.#source = undefined;
    const next = await src.next(this.#backend.id);
    if (!next) return undefined;
    let handle: InferenceHandle;
    try {
      handle = await next.createSession(src.bytes, src.session);
    } catch {
      return undefined;
    }
    if (!sameSignature(handle.inputs, this.#handle.inputs) || !sameSignature(handle.outputs, this.#handle.outputs) || this.#stopped) {
      await handle.release();
      return undefined;
    }
    const from = this.#backend.id;
    this.#left.push(this.#handle);
    this.#handle = handle;
    this.#backend = next;
    // What was learnt of the old device's limits does not hold on the new one.
    this.#rowCap = undefined;
    this.#fitRows = 0;
    this.onMove(from, next, reason);
    return handle;
  }
}

/** The first dimension every input shares (the batch), or undefined when they disagree or there is none. */
function leadingRows(feeds: Feeds): number | undefined {
  let rows: number | undefined;
  for (const t of Object.values(feeds)) {
    const d = t.dims[0];
    if (d === undefined || (rows !== undefined && d !== rows)) return undefined;
    rows = d;
  }
  return rows;
}

/** Rows `[at, at + n)` of every input (copies: a part must not share memory a backend may keep). */
function sliceRows(feeds: Feeds, rows: number, at: number, n: number): Outputs {
  const out: Outputs = {};
  for (const [name, t] of Object.entries(feeds)) {
    const width = t.data.length / rows;
    out[name] = { dtype: t.dtype, data: t.data.slice(at * width, (at + n) * width), dims: [n, ...t.dims.slice(1)] } as TensorData;
  }
  return out;
}

/** Outputs of consecutive parts joined along the first dimension. */
function joinRows(parts: readonly Outputs[], rows: number): Outputs {
  const out: Outputs = {};
  for (const name of Object.keys(parts[0]!)) out[name] = concatRows(parts.map((p) => p[name]!), rows);
  return out;
}

/** The same tensors by name, dtype and shape: a session another backend made of the same bytes. */
function sameSignature(a: readonly TensorSpec[], b: readonly TensorSpec[]): boolean {
  return a.length === b.length && a.every((s, i) => s.name === b[i]!.name && s.dtype === b[i]!.dtype && s.shape.join() === b[i]!.shape.join());
}
