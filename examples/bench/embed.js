// Stand-in for a text-embedding benchmark: hashes the tokens of --batch sentences into unit vectors
// (feature hashing), runs --rounds rounds, and prints one JSON line with the throughput.
//   node examples/bench/embed.js --batch 16 [--rounds 200] [--dim 256]
import { createHash } from 'node:crypto';
import { numberArg } from './args.js';

const batch = Math.floor(numberArg(process.argv, 'batch', 16));
const rounds = Math.floor(numberArg(process.argv, 'rounds', 200));
const dim = Math.floor(numberArg(process.argv, 'dim', 256));

const WORDS = 'resource worker placement memory gpu queue batch model latency throughput scale task'.split(' ');
// Different lengths and word picks per sentence, so the similarities are not all 1.
const sentences = Array.from({ length: batch }, (_, i) =>
  Array.from({ length: 6 + (i % 7) }, (_, j) => WORDS[(i * 7 + j * j * 3 + j) % WORDS.length]).join(' '),
);

function embed(text) {
  const v = new Float64Array(dim);
  for (const token of text.split(' ')) {
    const h = createHash('sha256').update(token).digest();
    for (let k = 0; k < 8; k++) v[h.readUInt16LE(k * 2) % dim] += h[16 + k] & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

const start = process.hrtime.bigint();
let similarity = 0;
for (let r = 0; r < rounds; r++) {
  const vectors = sentences.map(embed);
  for (let i = 1; i < vectors.length; i++) {
    let dot = 0;
    for (let k = 0; k < dim; k++) dot += vectors[0][k] * vectors[i][k];
    similarity += dot;
  }
}
const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;

console.log(
  JSON.stringify({
    metric: 'embeddings_per_s',
    value: Math.round((batch * rounds) / elapsedS),
    unit: 'embeddings/s',
    batch,
    rounds,
    dim,
    meanSimilarity: batch > 1 ? Number((similarity / (rounds * (batch - 1))).toFixed(4)) : 1,
    durationMs: Math.round(elapsedS * 1000),
  }),
);
