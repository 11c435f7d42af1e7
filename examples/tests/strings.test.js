// Unit tests for a few string helpers; run with `node --test examples/tests/strings.test.js`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

function slugify(text) {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

function wordCount(text) {
  const counts = new Map();
  for (const word of text.toLowerCase().match(/[a-z']+/g) ?? []) counts.set(word, (counts.get(word) ?? 0) + 1);
  return counts;
}

function isPalindrome(text) {
  const letters = text.toLowerCase().replace(/[^a-z0-9]/g, '');
  return letters === [...letters].reverse().join('');
}

test('slugify', () => {
  assert.equal(slugify('Hello, World!'), 'hello-world');
  assert.equal(slugify('  Crème Brûlée  '), 'creme-brulee');
  assert.equal(slugify('---'), '');
});

test('wordCount', () => {
  const counts = wordCount('the cat and the hat');
  assert.equal(counts.get('the'), 2);
  assert.equal(counts.get('cat'), 1);
  assert.equal(counts.size, 4);
});

test('isPalindrome', () => {
  assert.equal(isPalindrome('A man, a plan, a canal: Panama'), true);
  assert.equal(isPalindrome('benchmark'), false);
});
