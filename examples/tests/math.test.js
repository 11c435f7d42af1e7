// Unit tests for a few arithmetic helpers; run with `node --test examples/tests/math.test.js`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

function gcd(a, b) {
  while (b !== 0) [a, b] = [b, a % b];
  return Math.abs(a);
}

function isPrime(n) {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

function mean(values) {
  if (values.length === 0) throw new RangeError('mean of an empty list');
  return values.reduce((s, v) => s + v, 0) / values.length;
}

test('gcd', () => {
  assert.equal(gcd(12, 18), 6);
  assert.equal(gcd(17, 5), 1);
  assert.equal(gcd(0, 9), 9);
  assert.equal(gcd(-4, 6), 2);
});

test('isPrime', () => {
  const primes = Array.from({ length: 30 }, (_, i) => i).filter(isPrime);
  assert.deepEqual(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
  assert.equal(isPrime(7919), true);
  assert.equal(isPrime(7917), false);
});

test('mean', () => {
  assert.equal(mean([1, 2, 3, 4]), 2.5);
  assert.ok(Math.abs(mean([0.1, 0.2]) - 0.15) < 1e-12);
  assert.throws(() => mean([]), RangeError);
});
