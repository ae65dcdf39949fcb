/**
 * Submit-time checks of an async request's direct features, so a request that can never
 * score is a 422 at once instead of a failed job later. Cheap: the same value rules as the
 * tensor filler (numbers, booleans, numeric strings; finite unless the input allows
 * otherwise), without building tensors. Values from the feature store are checked when the
 * job runs (they may change in between).
 * @module
 */
import { Errors } from '../errors.ts';
import type { Model } from '../core/model.ts';
import type { FeatureRecord } from '../core/features.ts';

/**
 * Checks `record` against the model's named features. `complete`: nothing else will be
 * merged in (no entity lookup), so a missing feature without a default is an error too.
 */
export function checkFeatures(model: Model, record: FeatureRecord, row: number, complete: boolean): void {
  for (const [input, cfg] of Object.entries(model.config.inputs)) {
    const names = cfg.features;
    if (!names) continue;
    // A whole array under the input's name is checked when tensors are built.
    if (Array.isArray(record[input])) continue;
    for (const f of names) {
      const x = record[f];
      if (x === undefined || x === null) {
        const dflt = cfg.defaults?.[f] ?? cfg.default;
        if (complete && dflt === undefined) throw Errors.MISSING_FEATURE(`row ${row}: missing feature "${f}"`, { row, feature: f, input });
        continue;
      }
      let n: number;
      if (typeof x === 'number') n = x;
      else if (typeof x === 'boolean') n = 0;
      else if (typeof x === 'string' && x.trim() !== '' && (!Number.isNaN(Number(x)) || x.trim() === 'NaN')) n = Number(x);
      else {
        throw Errors.INVALID_FEATURE_TYPE(`row ${row}: feature "${f}" is ${describe(x)}; expected a number`, { row, feature: f, input });
      }
      if (!cfg.allowNonFinite && !Number.isFinite(n)) {
        throw Errors.INVALID_FEATURE_VALUE(`row ${row}: feature "${f}" is ${n}; values must be finite`, { row, feature: f, input });
      }
    }
  }
}

function describe(x: unknown): string {
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x)}`;
  return `a ${typeof x}`;
}
