// The conformance suite in Debian's Chromium (playwright-core): every case the other hosts run
// (test/conformance/conformance.case.ts), run in a page on onnxruntime-web WASM and on WebGPU
// (SwiftShader's adapter), one test here per case. The page is bundled here with the
// fixtures in it and served over loopback with onnxruntime-web's files; the case names are
// collected here by registering the suite without running it, so a case the page does not
// have fails by name. Fails, never skips, when Chromium is missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { allWasmAssets } from '../../wasm/assets.ts';
import { resolveWasmAsset } from '../../runtimes/native/wasm-assets.ts';
import { caseNames } from '../conformance/conformance.case.ts';
import { fixtureModule } from '../conformance/fixture-module.ts';
import { launchChromium, type RunningChromium } from './chromium.ts';

const ENTRY = fileURLToPath(new URL('./conformance-page.ts', import.meta.url));

const names = caseNames('browser', ['web-wasm', 'web-webgpu']);
