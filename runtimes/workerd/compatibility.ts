/**
 * The Workers compatibility date the bundle is built and tested for. Keep it equal to
 * `compatibility_date` in wrangler.toml, and no later than the workerd that Miniflare
 * (a devDependency) ships supports.
 * @module
 */
export const COMPATIBILITY_DATE = '2026-04-01';
