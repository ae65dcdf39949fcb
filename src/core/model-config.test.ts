// Model config parsing: defaults, INVALID_CONFIG naming the dotted path, strict/loose objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOmniserveError } from '../errors.ts';
import { parseModelConfig } from './model-config.ts';

/** Asserts INVALID_CONFIG whose message and details.issues name `path`; returns the issues. */
function rejects(input: unknown, path: string): { path: string; message: string }[] {
  let err: unknown;
  try {
    parseModelConfig(input);
  } catch (e) {
    err = e;
  }
  assert.ok(isOmniserveError(err, 'INVALID_CONFIG'), `expected INVALID_CONFIG for ${JSON.stringify(input)}, got ${String(err)}`);
  assert.equal(err.status, 400);
  const issues = err.details?.['issues'] as { path: string; message: string }[];
  assert.ok(Array.isArray(issues) && issues.length > 0, 'details.issues');
  assert.ok(issues.some((i) => i.path === path), `issues ${JSON.stringify(issues)} should name ${path}`);
  assert.ok(err.message.includes(`${path}: `), `message "${err.message}" should name ${path}`);
  return issues;
}

test('an empty config parses with defaults', () => {
  for (const input of [{}, undefined, null]) {
    const c = parseModelConfig(input);
    assert.equal(c.maxBatchSize, 1024);
    assert.deepEqual(c.inputs, {});
    assert.deepEqual(c.outputs, {});
  }
});

test('a full config parses; output defaults are postprocess none and threshold 0.5', () => {
  const c = parseModelConfig({
    name: 'bc', version: '2.1', description: 'd', maxBatchSize: 64,
    inputs: {
      features: { features: ['a', 'b'], default: 0, defaults: { b: true }, dtype: 'float64', allowNonFinite: true },
      image: { shape: [1, 8, 8] },
    },
    outputs: { raw: {}, logit: { postprocess: 'sigmoid', labels: ['no', 'yes'], primary: true } },
  });
  assert.equal(c.name, 'bc');
  assert.equal(c.version, '2.1');
  assert.equal(c.maxBatchSize, 64);
  assert.deepEqual(c.inputs['features']!.features, ['a', 'b']);
  assert.deepEqual(c.inputs['image']!.shape, [1, 8, 8]);
  assert.deepEqual(c.outputs['raw'], { postprocess: 'none', threshold: 0.5 });
  assert.equal(c.outputs['logit']!.postprocess, 'sigmoid');
  assert.equal(c.outputs['logit']!.threshold, 0.5);
  assert.equal(c.outputs['logit']!.primary, true);
});

test('invalid fields are INVALID_CONFIG naming their dotted path', () => {
  rejects({ outputs: { logit: { postprocess: 'relu' } } }, 'outputs.logit.postprocess');
  rejects({ outputs: { logit: { threshold: 1.5 } } }, 'outputs.logit.threshold');
  rejects({ outputs: { logit: { labels: [0, 1] } } }, 'outputs.logit.labels.0');
  rejects({ inputs: { features: { features: 'mean_radius' } } }, 'inputs.features.features');
  rejects({ inputs: { features: { features: [] } } }, 'inputs.features.features');
  rejects({ inputs: { features: { features: ['a', ''] } } }, 'inputs.features.features.1');
  rejects({ inputs: { image: { shape: [1, 0] } } }, 'inputs.image.shape.1');
  rejects({ inputs: { x: { dtype: 'bfloat16' } } }, 'inputs.x.dtype');
  rejects({ inputs: { x: { default: [0] } } }, 'inputs.x.default');
  rejects({ inputs: { x: { defaults: { a: null } } } }, 'inputs.x.defaults.a');
  rejects({ maxBatchSize: 0 }, 'maxBatchSize');
  rejects({ maxBatchSize: 2.5 }, 'maxBatchSize');
  rejects({ maxBatchSize: '10' }, 'maxBatchSize');
  rejects({ name: 'has space' }, 'name');
  rejects({ version: '-1' }, 'version');
  rejects({ inputs: 'features' }, 'inputs');
  rejects(42, '(root)');
});

test('every bad field is reported, and the message starts with where the config came from', () => {
  const issues = rejects({ maxBatchSize: 0, outputs: { logit: { postprocess: 'relu' } } }, 'maxBatchSize');
  assert.ok(issues.some((i) => i.path === 'outputs.logit.postprocess'));
  assert.throws(() => parseModelConfig({ maxBatchSize: 0 }, 'models/x.config.json'),
    (e: unknown) => isOmniserveError(e, 'INVALID_CONFIG') && /^models\/x\.config\.json: maxBatchSize: /.test(e.message));
});

test('unknown keys in an output config are rejected', () => {
  rejects({ outputs: { logit: { postprocess: 'sigmoid', treshold: 0.7 } } }, 'outputs.logit.treshold');
});

test('unknown top-level keys (and input keys) are kept as metadata', () => {
  const c = parseModelConfig({
    dataset: 'sklearn.datasets.load_wine', test_accuracy: 0.9167,
    inputs: { buckets: { features: ['b'], bucket_edges: { b: [1, 2] } } },
  }) as Record<string, unknown> & ReturnType<typeof parseModelConfig>;
  assert.equal(c['dataset'], 'sklearn.datasets.load_wine');
  assert.equal(c['test_accuracy'], 0.9167);
  assert.deepEqual((c.inputs['buckets'] as Record<string, unknown>)['bucket_edges'], { b: [1, 2] });
});
