// Memory-heavy task: allocates exactly --mb MiB in 64 MiB buffers and writes every page so the resident set
// really grows (an untouched allocation would not), holds it for --hold-ms, then prints one JSON line.
//   node examples/bench/memory-hog.js --mb 512 [--hold-ms 500]
import { numberArg } from './args.js';

const mb = Math.floor(numberArg(process.argv, 'mb', 256));
const holdMs = numberArg(process.argv, 'hold-ms', 500);
const CHUNK_MB = 64;
const MB = 1024 * 1024;

const baselineRssMb = process.memoryUsage().rss / MB;
const start = Date.now();
const chunks = [];
let checksum = 0;
for (let left = mb; left > 0; left -= CHUNK_MB) {
  const size = Math.min(CHUNK_MB, left) * MB;
  // Buffers live outside the V8 heap, so no --max-old-space-size is needed for large amounts.
  const chunk = Buffer.allocUnsafe(size);
  chunk.fill(chunks.length & 0xff);
  checksum = (checksum + chunk[size - 1]) & 0xffff;
  chunks.push(chunk);
}
const allocMs = Date.now() - start;
const peakRssMb = process.memoryUsage().rss / MB;
await new Promise((resolve) => setTimeout(resolve, holdMs));

console.log(
  JSON.stringify({
    metric: 'allocated_mb',
    value: mb,
    unit: 'MiB',
    chunks: chunks.length,
    rssMb: Math.round(peakRssMb),
    rssGrowthMb: Math.round(peakRssMb - baselineRssMb),
    allocMs,
    holdMs,
    checksum,
  }),
);
