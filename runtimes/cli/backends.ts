/**
 * `omniserve backends`: what the host offers, what was probed, what `auto` picks and why
 * anything was skipped, as JSON.
 * @module
 */
import { isOmniserveError, messageOf, parseBackendRequest, type Engine } from '../../src/index.ts';

/** Builds the report. Probes every backend unless `probe` is `auto` (stop at the pick). */
export async function backendsReport(engine: Engine, o: { backend?: string; probe?: 'all' | 'auto' } = {}) {
  const request = parseBackendRequest(o.backend);
  let selected: string | null = null;
  let error: string | undefined;
  try {
    selected = (await engine.backends.resolve(request)).id;
  } catch (e) {
    if (!isOmniserveError(e)) throw e;
    error = messageOf(e);
  }
  const backends = o.probe === 'auto' ? engine.backends.status() : await engine.backends.probeAll();
  return {
    host: engine.host,
    request,
    selected,
    ...(error ? { error } : {}),
    backends: backends.map((b) => ({
      ...b,
      used: b.id === selected,
      ...(b.state === 'available' && b.id !== selected
        ? { skipped: request === 'auto' ? `${selected} has higher priority` : `not requested (--backend ${request})` }
        : {}),
      ...(b.state === 'not-probed' ? { skipped: `not probed: ${selected} was chosen first` } : {}),
    })),
  };
}
