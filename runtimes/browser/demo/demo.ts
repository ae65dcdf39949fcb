/**
 * The /demo page's script: loads the digits model in the page (`createLocalModel`, backend
 * from `?backend=`), classifies the sample digits and a drawing, shows the backend, why,
 * the latency, and whether each answer equals the server's. `window.omniserveDemo` exposes
 * the state for the end-to-end tests. Browser-only.
 * @module
 */
import { createLocalModel, type LocalModel } from '../local-model.ts';
import { createServerPredictor } from '../server-client.ts';
import type { BackendChoice, PredictionView, PredictResponse } from '../types.ts';

interface Sample { readonly id: number; readonly image: number[]; readonly label: number }

/** What the tests read. */
export interface DemoState {
  ready: Promise<void>;
  model?: LocalModel;
  samples?: Sample[];
  local?: PredictResponse;
  server?: PredictResponse;
  /** Milliseconds for one digit, local (median of 9). */
  singleMs?: number;
  maxProbabilityDiff?: number;
  agree?: number;
  error?: { code?: string; message: string };
}

const el = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const fmt = (ms: number) => (ms < 1 ? ms.toFixed(3) : ms.toFixed(2));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function paintDigit(canvas: HTMLCanvasElement, image: readonly number[]): void {
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(8, 8);
  image.forEach((v, i) => {
    const c = 255 - Math.round((v / 16) * 255);
    img.data.set([c, c, c, 255], i * 4);
  });
  ctx.putImageData(img, 0, 0);
}

/** The drawing pad as the model's input: 8×8 cells, each the mean ink (0..16), like sklearn's digits. */
function padToImage(pad: HTMLCanvasElement): number[] {
  const ctx = pad.getContext('2d')!;
  const { data } = ctx.getImageData(0, 0, pad.width, pad.height);
  const cell = pad.width / 8;
  const out: number[] = [];
  for (let r = 0; r < 8; r++) {
    for (let c = 0; c < 8; c++) {
      let ink = 0;
      for (let y = r * cell; y < (r + 1) * cell; y++) {
        for (let x = c * cell; x < (c + 1) * cell; x++) ink += 255 - data[(y * pad.width + x) * 4]!;
      }
      out.push(Math.round((ink / (cell * cell * 255)) * 16));
    }
  }
  return out;
}

function setupPad(onStroke: () => void): { pad: HTMLCanvasElement; clear(): void; draw(image: readonly number[]): void } {
  const pad = el<HTMLCanvasElement>('pad');
  const ctx = pad.getContext('2d', { willReadFrequently: true })!;
  const clear = () => {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, pad.width, pad.height);
  };
  clear();
  let drawing = false;
  const at = (e: PointerEvent) => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height] as const;
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    const [x, y] = at(e);
    ctx.beginPath();
    ctx.moveTo(x, y);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const [x, y] = at(e);
    ctx.lineWidth = 18;
    ctx.lineCap = 'round';
    ctx.strokeStyle = '#000';
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  const end = () => {
    if (drawing) onStroke();
    drawing = false;
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointerleave', end);
  const draw = (image: readonly number[]) => {
    const cell = pad.width / 8;
    image.forEach((v, i) => {
      const c = 255 - Math.round((v / 16) * 255);
      ctx.fillStyle = `rgb(${c},${c},${c})`;
      ctx.fillRect((i % 8) * cell, Math.floor(i / 8) * cell, cell, cell);
    });
  };
  return { pad, clear, draw };
}

const show = (p: PredictionView | undefined) => (p ? `${p.label ?? p.prediction} (p = ${(p.probability ?? 0).toFixed(4)})` : '–');

async function run(state: DemoState): Promise<void> {
  const choice = (new URLSearchParams(location.search).get('backend') ?? 'auto') as BackendChoice;
  const select = el<HTMLSelectElement>('choice');
  select.value = choice;
  select.addEventListener('change', () => {
    const u = new URL(location.href);
    u.searchParams.set('backend', select.value);
    location.href = u.href;
  });
  const serverUrl = location.origin;
  const [model, samples] = await Promise.all([
    createLocalModel({ model: 'models/digits.onnx', config: 'models/digits.config.json', backend: choice, serverUrl }),
    fetch('models/digits.sample.jsonl').then((r) => r.text()).then((t) => t.trim().split('\n').map((l) => JSON.parse(l) as Sample)),
  ]);
  state.model = model;
  state.samples = samples;
  const info = model.info();
  const badge = el('backend');
  badge.textContent = info.backend;
  badge.classList.toggle('server', info.backend === 'server');
  el('reason').textContent = info.reason;
  el('model').textContent = `${info.model} v${info.version}` + (info.file ? ` · ${(info.file.sizeBytes / 1024).toFixed(1)} KiB from ${info.file.source}, SHA-256 ${info.file.sha256.slice(0, 12)}… checked` : '') + ` · ready in ${fmt(info.loadMs)} ms`;

  const records = samples.map((s) => ({ image: s.image }));
  const server = createServerPredictor({ serverUrl, model: info.model });
  await model.predict(records); // warm-up: WebGPU compiles its shaders on the first run of a shape
  const local = await model.predict(records);
  const single: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t = performance.now();
    await model.predict([records[i % records.length]!]);
    single.push(performance.now() - t);
  }
  state.singleMs = median(single);
  const remote = await server(records);
  state.local = local;
  state.server = remote;
  let agree = 0;
  let maxDiff = 0;
  const grid = el('samples');
  grid.replaceChildren();
  samples.forEach((s, i) => {
    const l = local.predictions[i]!;
    const r = remote.predictions[i]!;
    const same = l.prediction === r.prediction;
    if (same) agree++;
    (l.probabilities ?? []).forEach((p, k) => (maxDiff = Math.max(maxDiff, Math.abs(p - (r.probabilities?.[k] ?? NaN)))));
    const card = document.createElement('div');
    card.className = 'digit';
    card.dataset['index'] = String(i);
    card.dataset['local'] = String(l.prediction);
    card.dataset['server'] = String(r.prediction);
    const c = document.createElement('canvas');
    c.width = 8;
    c.height = 8;
    paintDigit(c, s.image);
    const pred = document.createElement('div');
    pred.className = `pred ${l.prediction === s.label ? 'ok' : 'bad'}`;
    pred.textContent = `${l.label ?? l.prediction}`;
    const meta = document.createElement('div');
    meta.className = 'muted';
    meta.textContent = `true ${s.label} · server ${r.label ?? r.prediction} ${same ? '✓' : '✗'}`;
    card.append(c, pred, meta);
    grid.append(card);
  });
  state.agree = agree;
  state.maxProbabilityDiff = maxDiff;
  el('latency').textContent = `${fmt(state.singleMs)} ms per digit · ${fmt(local.latency_ms)} ms for ${records.length} digits (${info.backend === 'server' ? 'server' : 'in this page'})`;
  const agreement = el('agreement');
  agreement.textContent = `${agree}/${samples.length} predictions equal the server's · max |Δp| ${maxDiff.toExponential(1)}`;
  agreement.className = agree === samples.length ? 'ok' : 'bad';

  const classify = async () => {
    const image = padToImage(pad.pad);
    paintDigit(el<HTMLCanvasElement>('pad8'), image);
    const t = performance.now();
    const [mine, theirs] = await Promise.all([model.predict([{ image }]), server([{ image }])]);
    const ms = performance.now() - t;
    el('draw-local').textContent = String(mine.predictions[0]?.label ?? mine.predictions[0]?.prediction);
    el('draw-local-p').textContent = `${show(mine.predictions[0])} · ${fmt(mine.latency_ms)} ms`;
    el('draw-server').textContent = String(theirs.predictions[0]?.label ?? theirs.predictions[0]?.prediction);
    el('draw-server-p').textContent = `${show(theirs.predictions[0])} · ${fmt(ms)} ms round trip`;
  };
  const pad = setupPad(() => void classify());
  el('clear').addEventListener('click', () => {
    pad.clear();
    for (const id of ['draw-local', 'draw-server']) el(id).textContent = '–';
    for (const id of ['draw-local-p', 'draw-server-p']) el(id).textContent = '';
  });
  el('classify').addEventListener('click', () => void classify());
  // Start with a sample in the pad so the page shows a full round at once.
  pad.draw(samples[0]!.image);
  await classify();
}

const state: DemoState = { ready: Promise.resolve() };
state.ready = run(state).catch((e: unknown) => {
  const err = e as { code?: string; message?: string };
  state.error = { ...(err.code ? { code: err.code } : {}), message: err.message ?? String(e) };
  const box = el('error');
  box.hidden = false;
  box.textContent = `${err.code ? `${err.code}: ` : ''}${state.error.message}`;
  el('backend').textContent = 'failed';
});
(globalThis as { omniserveDemo?: DemoState }).omniserveDemo = state;
