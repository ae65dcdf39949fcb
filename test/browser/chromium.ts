/**
 * Debian's Chromium driven by playwright-core, as the browser tests and bench/browser start
 * it: headless, no sandbox (root in a container), no network chatter, a fresh profile, and
 * WebGPU enabled (`--enable-unsafe-webgpu`: SwiftShader offers an adapter to pages served
 * from 127.0.0.1; `--disable-gpu` does not take it away, seen with Chromium 156).
 * @module
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** The flags every launch uses. */
export const BASE_FLAGS: readonly string[] = Object.freeze([
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]);

/** Options of {@link launchChromium}. */
export interface LaunchOptions {
  /** Add `--enable-unsafe-webgpu` (default true). */
  readonly webgpu?: boolean;
  /** More flags, e.g. `--js-flags=--noexpose-wasm` (a browser without WebAssembly). */
  readonly extraFlags?: readonly string[];
}

/** A running browser with one context; `close()` also removes its profile. */
export interface RunningChromium {
  readonly browser: Browser;
  readonly context: BrowserContext;
  /** Browser console lines and page errors, for failure messages. */
  readonly log: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Why Chromium cannot run here, or undefined. Tests fail (never skip) when it is set. */
export const missingChromium = (): string | undefined =>
  existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: install Debian's chromium (bash scripts/setup.sh)`;

/** Launches Chromium with a fresh user data dir. */
export async function launchChromium(o: LaunchOptions = {}): Promise<RunningChromium> {
  const missing = missingChromium();
  if (missing) throw new Error(missing);
  const profile = mkdtempSync(join(tmpdir(), 'omniserve-chromium-'));
  const args = [...BASE_FLAGS, ...(o.webgpu === false ? [] : ['--enable-unsafe-webgpu']), ...(o.extraFlags ?? [])];
  // A persistent context is how playwright takes a --user-data-dir of our own.
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args, viewport: { width: 1100, height: 900 } });
  // tsx compiles the tests with esbuild's keepNames, which wraps named functions in a
  // `__name(fn, "name")` helper; a callback passed to page.evaluate carries those calls
  // into the page, where the helper must exist.
  await context.addInitScript('globalThis.__name = (fn) => fn;');
  const log: string[] = [];
  const watch = (p: Page) => {
    p.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
    p.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  };
  context.on('page', watch);
  for (const p of context.pages()) watch(p);
  return {
    browser: context.browser()!,
    context,
    log,
    newPage: () => context.newPage(),
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
