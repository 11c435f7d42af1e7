// CPU-bound benchmark: sieves primes below --limit in batches of --batch sieves until --seconds of work is
// done, then prints one JSON line of metrics. Time-bounded rather than work-bounded, so a busy machine
// reports a lower rate instead of running long.
//   node examples/bench/cpu-bench.js --batch 4 [--seconds 1.5] [--limit 200000]
import { numberArg } from './args.js';

const batch = Math.floor(numberArg(process.argv, 'batch', 1));
const seconds = numberArg(process.argv, 'seconds', 1.5);
const limit = Math.floor(numberArg(process.argv, 'limit', 200_000));

function sieve(n) {
  const composite = new Uint8Array(n + 1);
  let count = 0;
  for (let i = 2; i <= n; i++) {
    if (composite[i]) continue;
    count++;
    for (let j = i * i; j <= n; j += i) composite[j] = 1;
  }
  return count;
}

const start = process.hrtime.bigint();
const deadline = start + BigInt(Math.round(seconds * 1e9));
let sieves = 0;
let primes = 0;
let perSieve = 0;
do {
  for (let b = 0; b < batch; b++) {
    perSieve = sieve(limit);
    primes += perSieve;
    sieves++;
  }
} while (process.hrtime.bigint() < deadline);
const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;

console.log(
  JSON.stringify({
    metric: 'primes_per_s',
    value: Math.round(primes / elapsedS),
    unit: 'primes/s',
    batch,
    limit,
    primesBelowLimit: perSieve,
    sieves,
    durationMs: Math.round(elapsedS * 1000),
  }),
);
