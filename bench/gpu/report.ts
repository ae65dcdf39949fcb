/**
 * bench/gpu's report: merges the measure.ts reports of one run (one per backend) with the
 * machine description into JSON and Markdown, with the issue's ratios at batch 1024.
 *
 *   report.ts --in DIR [--machine FILE.json] [--out-json F] [--out-md F] [--rehearsal] [--note TEXT]…
 *
 * Reads DIR/*.measure.json, DIR/*.served.json (serve-load.ts) and DIR/*.probe.json
 * (map-probe.ts); a file that does not parse is listed in the notes, not fatal.
 * @module
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { outputAgreement, parseMapProbe, parseMeasureReport, parseServedReport, ratios, renderMarkdown, REPORT_SCHEMA, servedRatio, type MapProbeReport, type MeasureReport, type ServedReport } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    in: { type: 'string' },
    machine: { type: 'string' },
    'out-json': { type: 'string' },
    'out-md': { type: 'string' },
    rehearsal: { type: 'boolean', default: false },
    note: { type: 'string', multiple: true, default: [] },
  },
});
if (!args.in) throw new Error('--in DIR is required');

const notes: string[] = [...(args.note ?? [])];
/** Every `DIR/*<suffix>` report that parses; the others are named in the notes. */
function readReports<R>(dir: string, suffix: string, parse: (text: string) => R): R[] {
  const out: R[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith(suffix)).sort()) {
    try {
      out.push(parse(readFileSync(join(dir, f), 'utf8')));
    } catch (e) {
      notes.push(`${f}: not read (${(e as Error).message})`);
    }
  }
  return out;
}
const reports: MeasureReport[] = readReports(args.in, '.measure.json', parseMeasureReport);
const served: ServedReport[] = readReports(args.in, '.served.json', parseServedReport);
const mapProbe: MapProbeReport | undefined = readReports(args.in, '.probe.json', parseMapProbe)[0];
served.sort((a, b) => (a.label === 'native-cpu' ? -1 : b.label === 'native-cpu' ? 1 : a.label.localeCompare(b.label)));
// Fixed order: CPU first (the baseline), then the GPU backends.
const order = ['native-cpu', 'native-webgpu', 'web-webgpu', 'web-webgpu/vulkan', 'web-webgpu/polled', 'web-webgpu/jsep', 'native-cuda', 'web-wasm'];
reports.sort((a, b) => (order.indexOf(a.label) + 1 || 99) - (order.indexOf(b.label) + 1 || 99));

let cpu = os.cpus()[0]?.model ?? 'unknown';
try {
  cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
} catch {
  // not Linux
}
const machine: Record<string, unknown> = {
  cpu, cores: os.cpus().length, memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  ...(args.machine && existsSync(args.machine) ? (JSON.parse(readFileSync(args.machine, 'utf8')) as Record<string, unknown>) : {}),
};
const q = ratios(reports, 1024);
const agreement = outputAgreement(reports);
const servedQ = served.length ? [servedRatio(served)] : [];
const out = { schema: REPORT_SCHEMA, rehearsal: args.rehearsal, createdAt: new Date().toISOString(), machine, ratios: [...q, ...servedQ], agreement, notes, reports, served, ...(mapProbe ? { mapProbe } : {}) };
const md = renderMarkdown({ machine, rehearsal: args.rehearsal, reports, ratios: q, agreement, notes, served, ...(mapProbe ? { mapProbe } : {}) });
if (args['out-json']) writeFileSync(args['out-json'], `${JSON.stringify(out, null, 2)}\n`);
if (args['out-md']) writeFileSync(args['out-md'], md);
process.stdout.write(md);
