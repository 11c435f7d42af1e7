import { capacityBench } from './capacity.js';
import { chaosBench } from './chaos.js';
import { dispatchBench } from './dispatch.js';
import { failoverBench } from './failover.js';
import type { Bench, Figure } from './figures.js';
import { packingBench } from './packing.js';
import { placementBench } from './placement.js';
import { predictionBench } from './prediction.js';
import { scalingBench } from './scaling.js';
import { storeWritesBench } from './store-writes.js';

// `npm run bench -- [name...] [--quick] [--json]`: runs the named benchmarks (all by default).

const BENCHES: Bench[] = [placementBench, packingBench, predictionBench, storeWritesBench, dispatchBench, capacityBench, scalingBench, chaosBench, failoverBench];

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const quick = argv.includes('--quick');
  const names = argv.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')} (available: ${BENCHES.map((b) => b.name).join(', ')})\n`);
    return 2;
  }
  const selected = names.length ? BENCHES.filter((b) => names.includes(b.name)) : BENCHES;
  const figures: Figure[] = [];
  for (const bench of selected) {
    process.stderr.write(`bench: ${bench.name}: ${bench.description}\n`);
    for (const figure of await bench.run({ quick, log: (line) => process.stderr.write(`  ${line}\n`) })) {
      figures.push(figure);
      if (json) process.stdout.write(JSON.stringify(figure) + '\n');
    }
  }
  if (!json) printTable(figures);
  return 0;
}

function printTable(figures: Figure[]): void {
  const rows = figures.map((f) => [f.bench, `${f.value} ${f.unit}`, f.baseline === undefined ? '' : `${f.baseline} ${f.baselineUnit ?? f.unit}`, f.ratio === undefined ? '' : `${f.ratio}x`, String(f.goal ?? '')]);
  const head = ['figure', 'value', 'baseline', 'ratio', 'goal'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  process.stdout.write([line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n');
}

process.exitCode = await main(process.argv.slice(2));
