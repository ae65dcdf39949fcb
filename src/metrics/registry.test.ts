// The metrics registry: exact exposition text, name and label checks, and promtool's verdict
// on omniserve's standard metrics.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONTENT_TYPE, MetricsRegistry, contentType, escapeLabelValue, formatValue } from './registry.ts';
import { createServingMetrics } from './serving-metrics.ts';

test('renders counters, gauges (set and collect) and labelled histograms exactly', () => {
  const r = new MetricsRegistry();
  const reqs = r.counter({ name: 'app_requests_total', help: 'Requests.', labelNames: ['route', 'status'] });
  const plain = r.counter({ name: 'app_events_total', help: 'Events with a "quote" and a \\ and\na newline.' });
  const temp = r.gauge({ name: 'app_temperature_celsius', help: 'Temperature.' });
  r.gauge({ name: 'app_idle', help: 'Never set: an unlabelled metric still shows 0.' });
  let depth = 3;
  let queueContent: [{ model: string }, number][] | undefined;
  const queue = r.gauge({
    name: 'app_queue_rows', help: 'Queue.', labelNames: ['model'],
    collect: () => queueContent ?? [[{ model: 'a' }, depth], [{ model: 'b' }, 0]],
  });
  const up = r.gauge({ name: 'app_up', help: 'Up.', collect: () => 1 });
  const lat = r.histogram({ name: 'app_latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 1] });
  reqs.inc({ route: '/predict', status: 200 });
  reqs.inc({ status: '200', route: '/predict' }, 2); // order of keys and number vs string do not matter
  reqs.inc({ route: 'a"b\\c\nd', status: 500 });
  plain.inc();
  temp.set(undefined, -Infinity);
  lat.observe({ route: '/predict' }, 0.05);
  lat.observe({ route: '/predict' }, 0.1); // le is inclusive
  lat.observe({ route: '/predict' }, 0.5);
  lat.observe({ route: '/predict' }, 7);
  lat.labels({ route: '/x' }).observe(NaN);
  depth = 5; // collect runs at render time, not at registration
  assert.equal(r.render(), [
    '# HELP app_requests_total Requests.',
    '# TYPE app_requests_total counter',
    'app_requests_total{route="/predict",status="200"} 3',
    'app_requests_total{route="a\\"b\\\\c\\nd",status="500"} 1',
    '# HELP app_events_total Events with a "quote" and a \\\\ and\\na newline.',
    '# TYPE app_events_total counter',
    'app_events_total 1',
    '# HELP app_temperature_celsius Temperature.',
    '# TYPE app_temperature_celsius gauge',
    'app_temperature_celsius -Inf',
    '# HELP app_idle Never set: an unlabelled metric still shows 0.',
    '# TYPE app_idle gauge',
    'app_idle 0',
    '# HELP app_queue_rows Queue.',
    '# TYPE app_queue_rows gauge',
    'app_queue_rows{model="a"} 5',
    'app_queue_rows{model="b"} 0',
    '# HELP app_up Up.',
    '# TYPE app_up gauge',
    'app_up 1',
    '# HELP app_latency_seconds Latency.',
    '# TYPE app_latency_seconds histogram',
    'app_latency_seconds_bucket{route="/predict",le="0.1"} 2',
    'app_latency_seconds_bucket{route="/predict",le="1"} 3',
    'app_latency_seconds_bucket{route="/predict",le="+Inf"} 4',
    'app_latency_seconds_sum{route="/predict"} 7.65',
    'app_latency_seconds_count{route="/predict"} 4',
    'app_latency_seconds_bucket{route="/x",le="0.1"} 0',
    'app_latency_seconds_bucket{route="/x",le="1"} 0',
    'app_latency_seconds_bucket{route="/x",le="+Inf"} 1',
    'app_latency_seconds_sum{route="/x"} NaN',
    'app_latency_seconds_count{route="/x"} 1',
    '',
  ].join('\n'));
  // A collect gauge shows only what collect returns now: series it drops disappear.
  queueContent = [[{ model: 'c' }, 1]];
  const again = r.render();
  assert.match(again, /^app_queue_rows\{model="c"\} 1$/m);
  assert.doesNotMatch(again, /model="a"/);
  assert.throws(() => queue.set({ model: 'a' }, 1), /collect/);
  assert.throws(() => up.inc(), /collect/);
});

test('a collect counter renders the totals kept elsewhere, as a counter, and cannot be incremented', () => {
  const r = new MetricsRegistry();
  let restarts = new Map([['a', 0], ['b', 3]]);
  const c = r.counter({ name: 'pool_restarts_total', help: 'Restarts.', labelNames: ['model'], collect: () => [...restarts].map(([model, n]) => [{ model }, n] as const) });
  assert.equal(r.render(), [
    '# HELP pool_restarts_total Restarts.', '# TYPE pool_restarts_total counter',
    'pool_restarts_total{model="a"} 0', 'pool_restarts_total{model="b"} 3', '',
  ].join('\n'));
  restarts = new Map([['b', 4]]);
  assert.equal(r.render().split('\n').filter((l) => !l.startsWith('#')).join('|'), 'pool_restarts_total{model="b"} 4|');
  assert.throws(() => c.inc({ model: 'b' }), /counter pool_restarts_total is read from its collect callback/);
  assert.throws(() => c.labels({ model: 'b' }), /collect/);
});

test('formats values and escapes label values the Prometheus way', () => {
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(-Infinity), '-Inf');
  assert.equal(formatValue(NaN), 'NaN');
  assert.equal(formatValue(1e-7), '1e-7');
  assert.equal(formatValue(0.25), '0.25');
  assert.equal(escapeLabelValue('plain'), 'plain');
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(contentType, CONTENT_TYPE);
  assert.equal(new MetricsRegistry().render(), '');
});

test('rejects bad metric names, bad label names and duplicates at registration', () => {
  const r = new MetricsRegistry();
  for (const name of ['', '1abc', 'has-dash', 'has space', 'é']) {
    assert.throws(() => r.counter({ name, help: 'x' }), /invalid metric name/, name);
  }
  for (const label of ['1a', 'a-b', '__reserved', '']) {
    assert.throws(() => r.counter({ name: 'ok_total', help: 'x', labelNames: [label] }), /invalid label name/, label);
  }
  assert.throws(() => r.histogram({ name: 'h_seconds', help: 'x', labelNames: ['le'], buckets: [1] }), /invalid label name "le"/);
  assert.throws(() => r.counter({ name: 'dup_labels_total', help: 'x', labelNames: ['a', 'a'] }), /duplicate label names/);
  assert.throws(() => r.histogram({ name: 'h1_seconds', help: 'x', buckets: [1, 1] }), /strictly increasing/);
  assert.throws(() => r.histogram({ name: 'h2_seconds', help: 'x', buckets: [] }), /strictly increasing/);
  r.counter({ name: 'colon:ok_total', help: 'x' });
  r.counter({ name: 'taken_total', help: 'x' });
  assert.throws(() => r.gauge({ name: 'taken_total', help: 'x' }), /already used/);
  r.histogram({ name: 'lat_seconds', help: 'x', buckets: [1, Infinity] });
  assert.throws(() => r.counter({ name: 'lat_seconds_count', help: 'x' }), /already used by metric lat_seconds/);
  r.gauge({ name: 'other_sum', help: 'x' });
  assert.throws(() => r.histogram({ name: 'other', help: 'x', buckets: [1] }), /other_sum is already used/);
  // Failed registrations left nothing behind.
  assert.doesNotMatch(r.render(), /ok_total\{|dup_labels|h1_seconds|h2_seconds|^other /m);
});

test('missing, extra and absent labels fail at call time; counters only go up', () => {
  const r = new MetricsRegistry();
  const c = r.counter({ name: 'c_total', help: 'x', labelNames: ['model', 'route'] });
  const bare = r.counter({ name: 'bare_total', help: 'x' });
  const h = r.histogram({ name: 'h_seconds', help: 'x', labelNames: ['model'], buckets: [1] });
  // @ts-expect-error a label is missing
  assert.throws(() => c.inc({ model: 'm' }), /missing label "route"/);
  // @ts-expect-error an extra label
  assert.throws(() => c.inc({ model: 'm', route: 'r', extra: 'x' }), /unknown label\(s\) extra/);
  assert.throws(() => c.inc(), /labels model, route are required/);
  assert.throws(() => bare.inc({ model: 'm' } as object), /unknown label\(s\) model/); // no labels declared
  // @ts-expect-error missing label on a histogram
  assert.throws(() => h.observe({}, 1), /missing label "model"/);
  assert.throws(() => c.inc({ model: 'm', route: 'r' }, -1), /only go up/);
  assert.throws(() => bare.inc(undefined, NaN), /only go up/);
  const bound = c.labels({ model: 'm', route: 'r' });
  bound.inc();
  bound.inc(4);
  assert.throws(() => bound.inc(-2), /only go up/);
  assert.match(r.render(), /^c_total\{model="m",route="r"\} 5$/m);
});

test('a collect callback that throws is reported and the scrape still renders', () => {
  const seen: string[] = [];
  const r = new MetricsRegistry({ onCollectError: (name, e) => seen.push(`${name}: ${(e as Error).message}`) });
  r.gauge({ name: 'broken', help: 'x', collect: () => { throw new Error('boom'); } });
  r.gauge({ name: 'fine', help: 'x', collect: () => 2 });
  const text = r.render();
  assert.deepEqual(seen, ['broken: boom']);
  assert.match(text, /^# TYPE broken gauge\n# HELP fine x\n# TYPE fine gauge\nfine 2\n$/m);
});

/** Runs `promtool check metrics` on `text`; a missing promtool fails the test, never skips it. */
function promtoolCheck(text: string): { status: number | null; said: string } {
  const promtool = '/usr/bin/promtool';
  assert.ok(existsSync(promtool), 'promtool is missing: install the Debian package "prometheus" (apt-get install prometheus), which provides /usr/bin/promtool');
  const res = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(res.error, undefined, `promtool did not run: ${res.error?.message}`);
  return { status: res.status, said: `${res.stdout}${res.stderr}`.trim() };
}

test('omniserve standard metrics pass promtool check metrics', () => {
  const registry = new MetricsRegistry();
  const queues = new Map<string, number>([['breast-cancer', 12]]);
  const m = createServingMetrics(registry, {
    queueRows: () => [...queues, ['breast-cancer', 3]], // two batchers of one model are summed
  });
  m.setSources({
    queueRows: () => queues,
    models: () => [{ name: 'breast-cancer', version: '1', backend: 'native-cpu', loadedAt: '2025-01-02T03:04:05.000Z' }],
  });
  m.requestsTotal.inc({ model: 'breast-cancer', version: '1', route: '/predict/:model', status: 200 });
  m.requestsTotal.inc({ model: '', version: '', route: 'unmatched', status: 404 });
  m.requestLatency.observe({ model: 'breast-cancer', route: '/predict/:model' }, 0.0042);
  m.inFlight.inc();
  m.inferenceLatency.observe({ model: 'breast-cancer', backend: 'native-cpu' }, 0.0007);
  m.batchSize.observe({ model: 'breast-cancer' }, 17);
  m.featureStoreLatency.observe({ store: 'redis' }, 0.0003);
  m.featureStoreErrors.inc({ store: 'redis' });
  m.cacheHits.inc({ model: 'breast-cancer' }, 3);
  m.cacheMisses.inc({ model: 'breast-cancer' });
  m.modelLoads.inc({ model: 'breast-cancer', result: 'ok' });
  const text = registry.render();
  assert.match(text, /^omniserve_queue_rows\{model="breast-cancer"\} 12$/m);
  assert.match(text, /^omniserve_backend_info\{model="breast-cancer",version="1",backend="native-cpu"\} 1$/m);
  assert.match(text, /^omniserve_model_loaded_timestamp_seconds\{model="breast-cancer",version="1"\} 1735787045$/m);
  assert.match(text, /^omniserve_batch_size_rows_bucket\{model="breast-cancer",le="32"\} 1$/m);
  assert.match(text, /^omniserve_batch_size_rows_bucket\{model="breast-cancer",le="16"\} 0$/m);
  const { status, said } = promtoolCheck(text);
  // Exit 0 with no output: valid and no lint problems. Exit 1 is an error, exit 3 "lint
  // problems only"; we fail on both, since our names are meant to follow the lint rules.
  assert.equal(status, 0, `promtool check metrics exited ${status}:\n${said}`);
  assert.equal(said, '', `promtool reported:\n${said}`);
});

test('promtool really rejects broken exposition text (the check above has teeth)', () => {
  const broken = promtoolCheck('# TYPE x counter\nx{a="b} 1\n');
  assert.equal(broken.status, 1, broken.said);
  assert.match(broken.said, /error/);
  const lint = promtoolCheck('# HELP x_count x\n# TYPE x_count counter\nx_count 1\n');
  assert.equal(lint.status, 3, 'a counter without _total is a lint problem');
  assert.match(lint.said, /"_total" suffix/);
});
