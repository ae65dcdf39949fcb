/**
 * Prometheus metrics without prom-client. prom-client reaches for Node's cluster,
 * perf_hooks and process, so it cannot run in Workers or the browser; this registry is
 * plain JS and renders the text exposition format, version 0.0.4.
 *
 * Hot-path cost: a labelled call walks one Map per label (no key string is built, so no
 * allocation once the series exists); `labels()` binds a series once for zero lookups.
 * Histogram observations bump one bucket; the cumulative counts are summed at render time.
 * @module
 */

/** The Content-Type of `render()`'s output (text exposition format 0.0.4). */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Alias of `CONTENT_TYPE`. */
export const contentType = CONTENT_TYPE;

/** A label set: every declared label name, nothing else. */
export type Labels<L extends string> = { readonly [K in L]: string | number };

/** What every metric is registered with. Label values are given later, as objects. */
export interface MetricOptions<L extends string> { readonly name: string; readonly help: string; readonly labelNames?: readonly L[] }

/** Options of a counter or gauge; `collect` makes it read-only and is called at render time. */
export interface ValueOptions<L extends string> extends MetricOptions<L> {
  /**
   * The metric's whole content at render time: one value (no labels) or `[labels, value]`
   * pairs. For a counter, totals kept elsewhere (they must never go down).
   */
  readonly collect?: () => number | Iterable<readonly [Labels<L>, number]>;
}

/** Options of a gauge. */
export type GaugeOptions<L extends string> = ValueOptions<L>;
/** Options of a counter. */
export type CounterOptions<L extends string> = ValueOptions<L>;

/** Options of a histogram; `buckets` are upper bounds, strictly increasing (+Inf is implied). */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  readonly buckets: readonly number[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NEEDS_ESCAPE = /[\\"\n]/;

/** Prometheus spelling of a sample value: `+Inf`, `-Inf`, `NaN`, else JS's shortest round-trip form. */
export function formatValue(v: number): string {
  return Number.isFinite(v) ? String(v) : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : 'NaN';
}

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(v: string): string {
  return NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** Shared by every metric kind: names, label validation and the series index. */
abstract class Metric<L extends string, S extends { readonly labels: string }> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  /** Nested maps, one level per label name; the last level holds series. */
  #root = new Map<string, unknown>();
  #single: S | undefined;
  protected series: S[] = [];

  constructor(opts: MetricOptions<L>, reserved: readonly string[] = []) {
    if (typeof opts.name !== 'string' || !METRIC_NAME.test(opts.name)) throw new TypeError(`invalid metric name ${JSON.stringify(opts.name)}: use [a-zA-Z_:][a-zA-Z0-9_:]*`);
    const names = opts.labelNames ?? [];
    for (const l of names) {
      if (typeof l === 'string' && LABEL_NAME.test(l) && !l.startsWith('__') && !reserved.includes(l)) continue;
      throw new TypeError(`metric ${opts.name}: invalid label name ${JSON.stringify(l)}: use [a-zA-Z_][a-zA-Z0-9_]*, ` +
        `not starting with "__"${reserved.length ? `, not ${reserved.join(', ')}` : ''}`);
    }
    if (new Set(names).size !== names.length) throw new TypeError(`metric ${opts.name}: duplicate label names in [${names.join(', ')}]`);
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = [...names];
  }

  protected abstract create(labels: string): S;
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  /** Appends this metric's sample lines. */
  abstract samples(out: string[]): void;

  /** The series of `labels`, created on first use. Throws on missing or extra labels. */
  protected find(labels: Labels<L> | undefined): S {
    const names = this.labelNames;
    if (names.length === 0) {
      if (labels !== undefined) this.#checkExtra(labels);
      return (this.#single ??= this.#add(''));
    }
    if (labels === null || typeof labels !== 'object') throw new TypeError(`metric ${this.name}: labels ${names.join(', ')} are required`);
    this.#checkExtra(labels);
    let node = this.#root;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      const v = this.#value(labels, names[i]!);
      let next = node.get(v) as Map<string, unknown> | undefined;
      if (next === undefined) node.set(v, (next = new Map()));
      node = next;
    }
    const v = this.#value(labels, names[last]!);
    let s = node.get(v) as S | undefined;
    if (s === undefined) node.set(v, (s = this.#add(names.map((l) => `${l}="${escapeLabelValue(String(labels[l]))}"`).join(','))));
    return s;
  }

  #value(labels: Labels<L>, name: L): string {
    const raw: unknown = labels[name];
    if (raw === undefined || raw === null) throw new TypeError(`metric ${this.name}: missing label "${name}"`);
    return typeof raw === 'string' ? raw : String(raw);
  }

  /** Every series; an unlabelled metric always has its one (a 0 is news too: "nothing in flight"). */
  protected all(): readonly S[] {
    if (this.labelNames.length === 0) this.find(undefined);
    return this.series;
  }

  /** Drops every series (collect gauges refill them each render). */
  protected clear(): void {
    [this.#root, this.#single, this.series] = [new Map(), undefined, []];
  }

  #add(labels: string): S { return this.series[this.series.length] = this.create(labels); }

  #checkExtra(labels: object): void {
    // for-in counts keys without allocating; with every declared name present (checked by
    // the caller), no more keys than names means no extras.
    let count = 0;
    for (const _ in labels) count++;
    if (count <= this.labelNames.length) return;
    const extra = Object.keys(labels).filter((k) => !(this.labelNames as readonly string[]).includes(k));
    throw new TypeError(`metric ${this.name}: unknown label(s) ${extra.join(', ')}; its labels: ${this.labelNames.join(', ') || 'none'}`);
  }
}

interface ValueSeries { readonly labels: string; value: number }

const line = (name: string, labels: string, v: number) => labels === '' ? `${name} ${formatValue(v)}` : `${name}{${labels}} ${formatValue(v)}`;

/** A counter or gauge: one value per series, set by calls or read from `collect` at render time. */
abstract class ValueMetric<L extends string> extends Metric<L, ValueSeries> {
  readonly #collect: ValueOptions<L>['collect'];
  readonly #onCollectError: ((metric: string, error: unknown) => void) | undefined;

  /** `onCollectError`: told when `collect` throws; the metric then renders no samples that scrape. */
  constructor(opts: ValueOptions<L>, onCollectError?: (metric: string, error: unknown) => void) {
    super(opts);
    this.#collect = opts.collect;
    this.#onCollectError = onCollectError;
  }

  protected create(labels: string): ValueSeries { return { labels, value: 0 }; }

  samples(out: string[]): void {
    if (this.#collect) {
      this.clear();
      try {
        const got = this.#collect();
        if (typeof got === 'number') this.find(undefined).value = got;
        else for (const [labels, v] of got) this.find(labels).value = v;
      } catch (e) {
        this.clear();
        this.#onCollectError?.(this.name, e);
      }
    }
    for (const s of this.#collect ? this.series : this.all()) out.push(line(this.name, s.labels, s.value));
  }

  /** The series of `labels`, for a write; a metric read from `collect` takes none. */
  protected writable(labels: Labels<L> | undefined): ValueSeries {
    if (this.#collect) throw new TypeError(`${this.type} ${this.name} is read from its collect callback; it cannot be set`);
    return this.find(labels);
  }
}

/** A monotonically increasing count. */
export class Counter<L extends string = never> extends ValueMetric<L> {
  readonly type = 'counter';

  /** Adds `value` (≥ 0, default 1). */
  inc(labels?: Labels<L>, value = 1): void { this.#add(this.writable(labels), value); }

  /** A handle bound to one label set: no lookup per call. */
  labels(labels: Labels<L>): { inc(value?: number): void } {
    const s = this.writable(labels);
    return { inc: (value = 1) => this.#add(s, value) };
  }

  #add(s: ValueSeries, value: number): void {
    if (!(value >= 0)) throw new RangeError(`counter ${this.name}: cannot add ${value}; counters only go up`);
    s.value += value;
  }
}

/** A value that goes up and down, set by calls or read from `collect` at render time. */
export class Gauge<L extends string = never> extends ValueMetric<L> {
  readonly type = 'gauge';

  /** Sets a series to `v`. */
  set(labels: Labels<L> | undefined, v: number): void { this.writable(labels).value = v; }
  /** Adds `v` (default 1). */
  inc(labels?: Labels<L>, v = 1): void { this.writable(labels).value += v; }
  /** Subtracts `v` (default 1). */
  dec(labels?: Labels<L>, v = 1): void { this.writable(labels).value -= v; }
}

interface HistogramSeries { readonly labels: string; readonly counts: Float64Array; sum: number; count: number }

/** Counts observations into cumulative buckets, with `_sum` and `_count`. */
export class Histogram<L extends string = never> extends Metric<L, HistogramSeries> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  readonly #le: readonly string[];

  constructor(opts: HistogramOptions<L>) {
    super(opts, ['le']);
    const b = [...opts.buckets];
    if (b.at(-1) === Infinity) b.pop();
    if (b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]!))) {
      throw new TypeError(`histogram ${opts.name}: buckets must be finite and strictly increasing; got [${opts.buckets.join(', ')}]`);
    }
    this.buckets = b;
    this.#le = [...b.map(formatValue), '+Inf'];
  }

  protected create(labels: string): HistogramSeries {
    return { labels, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
  }

  /** Records one observation. */
  observe(labels: Labels<L> | undefined, v: number): void { this.#record(this.find(labels), v); }

  /** A handle bound to one label set: no lookup per call. */
  labels(labels: Labels<L>): { observe(v: number): void } {
    const s = this.find(labels);
    return { observe: (v: number) => this.#record(s, v) };
  }

  #record(s: HistogramSeries, v: number): void {
    let i = 0;
    while (i < this.buckets.length && !(v <= this.buckets[i]!)) i++; // NaN lands in +Inf, as in client_golang
    s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  samples(out: string[]): void {
    for (const s of this.all()) {
      const pre = s.labels === '' ? '' : `${s.labels},`;
      let cum = 0;
      for (let i = 0; i < this.#le.length; i++) {
        cum += s.counts[i]!;
        out.push(`${this.name}_bucket{${pre}le="${this.#le[i]}"} ${formatValue(cum)}`);
      }
      out.push(line(`${this.name}_sum`, s.labels, s.sum), line(`${this.name}_count`, s.labels, s.count));
    }
  }
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/** Holds metrics and renders them. One per app; nothing here is a global. */
export class MetricsRegistry {
  readonly #metrics: AnyMetric[] = [];
  /** Every sample name in use, so `x_count` cannot collide with histogram `x`. */
  readonly #names = new Map<string, string>();
  readonly #onCollectError: ((metric: string, error: unknown) => void) | undefined;

  /** `onCollectError`: told when a counter's or gauge's collect throws (the scrape still succeeds). */
  constructor(opts: { onCollectError?: (metric: string, error: unknown) => void } = {}) {
    this.#onCollectError = opts.onCollectError;
  }

  /** Registers a counter (by Prometheus convention its name ends in `_total`). */
  counter<L extends string = never>(opts: CounterOptions<L>): Counter<L> { return this.#register(new Counter(opts, this.#onCollectError), []); }

  /** Registers a gauge. */
  gauge<L extends string = never>(opts: GaugeOptions<L>): Gauge<L> { return this.#register(new Gauge(opts, this.#onCollectError), []); }

  /** Registers a histogram (it also claims `<name>_bucket`, `_sum` and `_count`). */
  histogram<L extends string = never>(opts: HistogramOptions<L>): Histogram<L> {
    return this.#register(new Histogram(opts), ['_bucket', '_sum', '_count']);
  }

  /** The exposition text of every metric, in registration order. */
  render(): string {
    const out: string[] = [];
    for (const m of this.#metrics) {
      out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`);
      m.samples(out);
    }
    return out.length === 0 ? '' : `${out.join('\n')}\n`;
  }

  #register<M extends AnyMetric>(m: M, suffixes: readonly string[]): M {
    const claimed = [m.name, ...suffixes.map((s) => m.name + s)];
    for (const n of claimed) {
      const owner = this.#names.get(n);
      if (owner !== undefined) throw new TypeError(`metric ${m.name}: the name ${n} is already used by metric ${owner}`);
    }
    for (const n of claimed) this.#names.set(n, m.name);
    this.#metrics.push(m);
    return m;
  }
}
