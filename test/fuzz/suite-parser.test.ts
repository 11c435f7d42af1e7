import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify as yamlStringify } from 'yaml';
import { TaskSpecSchema } from '../../src/schema/task.js';
import { parseSuite, SuiteError } from '../../src/suite/parse.js';
import { junk, nastyString, poolName, taskLike } from './arbitraries.js';

// Property: whatever text a suite file holds, parsing either yields a suite whose every task is a valid API
// task (unique names, dependencies on known tasks), or throws a SuiteError whose message is one line naming
// the file. Nothing else escapes (no TypeError from a surprising shape, no YAML library error).

const ENV = { FUZZ_SECRET: 'fuzz-secret-value', FUZZ_OTHER: 'other' };

function check(text: string, file: string): void {
  let suite;
  try {
    suite = parseSuite(text, file, { env: ENV });
  } catch (err) {
    if (!(err instanceof SuiteError)) throw new Error(`not a SuiteError for ${JSON.stringify(text).slice(0, 400)}: ${(err as Error)?.stack ?? err}`);
    expect(err.message.startsWith(file)).toBe(true);
    expect(err.message, 'one line').not.toMatch(/[\r\n]/);
    return;
  }
  const names = new Set<string>();
  for (const t of suite.tasks) {
    expect(TaskSpecSchema.safeParse(t).success).toBe(true);
    expect(names.has(t.name)).toBe(false);
    names.add(t.name);
  }
  for (const t of suite.tasks) for (const d of t.dependsOn ?? []) expect(names.has(d)).toBe(true);
}

/** Small edits of a text: a character in, a range out, a line repeated, the end cut off. */
const mutated = (text: fc.Arbitrary<string>) =>
  fc.tuple(text, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 8 }), fc.constantFrom('insert', 'delete', 'dupline', 'truncate'), fc.constantFrom(':', '-', ' ', '\n', '"', "'", '{', '[', '&a', '*a', '!!', '<<', '#', '\t', '%', '|')), { maxLength: 3 })).map(([t, edits]) => {
    let out = t;
    for (const [pos, len, op, ch] of edits) {
      const at = out.length === 0 ? 0 : pos % out.length;
      if (op === 'insert') out = out.slice(0, at) + ch + out.slice(at);
      else if (op === 'delete') out = out.slice(0, at) + out.slice(at + len);
      else if (op === 'truncate') out = out.slice(0, at);
      else {
        const lines = out.split('\n');
        const i = pos % lines.length;
        lines.splice(i, 0, lines[i]);
        out = lines.join('\n');
      }
    }
    return out;
  });

const suiteValue = fc.record(
  {
    name: fc.oneof(fc.stringMatching(/^[a-z]{1,8}$/), nastyString),
    defaults: fc.oneof(taskLike({ secretEnvAsList: true, names: poolName }), junk),
    tasks: fc.oneof({ weight: 5, arbitrary: fc.array(taskLike({ secretEnvAsList: true, names: poolName }), { maxLength: 4 }) }, { weight: 1, arbitrary: junk }),
  },
  { requiredKeys: [] },
);

/** Hand-written YAML that stresses the parser's features: anchors, merges, tags, flow style, documents. */
const yamlSnippets = fc.constantFrom(
  'a: &a [1, 2]\nb: *a\n',
  'tasks:\n  - &t {name: a, command: [node]}\n  - *t\n',
  'tasks:\n  - <<: {name: a, command: [node]}\n',
  'tasks: !!set {a, b}\n',
  'tasks:\n  - name: !!binary aGVsbG8=\n    command: [node]\n',
  'tasks:\n  - name: a\n    command: !!omap [{a: 1}]\n',
  'tasks: [{name: a, command: [x], timeoutSec: .inf}]\n',
  'tasks: [{name: a, command: [x], priority: .nan}]\n',
  'tasks: [{name: a, command: [x], batchSize: 0x10}]\n',
  'tasks: [{name: 2001-12-14, command: [x]}]\n',
  '--- \ntasks: []\n--- \ntasks: []\n',
  '%YAML 1.1\n---\ntasks: [{name: a, command: [x], env: {A: yes}}]\n',
  'tasks: [{name: a, command: [x], secretEnv: [FUZZ_SECRET]}]\n',
  'tasks: [{name: a, command: [x], env: {FUZZ_SECRET: a}, secretEnv: [FUZZ_SECRET]}]\n',
  'defaults: {secretEnv: [FUZZ_OTHER]}\ntasks: [{name: a, command: [x], secretEnv: [FUZZ_SECRET]}]\n',
  'tasks: [{name: a, command: [x], secretEnv: {K: literal}}]\n',
  'tasks: [{name: a, command: [x], matrix: {b: [1, 2]}, batchSize: "${{ matrix.b }}"}]\n',
  'tasks: [{name: "${{ matrix.b }}", command: [x], matrix: {b: [1, 1]}}]\n',
  '? [a]\n: b\n',
  'a: b: c\n',
  '{"tasks": [{"name": "a", "command": ["x"]}], "tasks": []}\n',
);

// Bounded runs (a few seconds each); the timeout leaves room for a loaded 2-core machine.
describe('suite parser fuzz', { timeout: 120_000 }, () => {
  it('throws only SuiteError on generated suites written as YAML or JSON, then edited', () => {
    fc.assert(
      fc.property(
        mutated(suiteValue.map((v) => yamlStringify(v))),
        mutated(suiteValue.map((v) => JSON.stringify(v))),
        (yamlText, jsonText) => {
          check(yamlText, 'fuzz.yaml');
          check(jsonText, 'fuzz.json');
          check(jsonText, 'fuzz-json-as.yaml');
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('throws only SuiteError on arbitrary text and on edited YAML feature snippets', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 100 }), mutated(yamlSnippets)), (text) => {
        check(text, 'any.yaml');
        check(text, 'any.json');
      }),
      { numRuns: 1500 },
    );
  });

  it('an alias bomb is refused as a SuiteError, not expanded', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`), 'tasks: [*i]'].join('\n');
    expect(() => parseSuite(bomb, 'bomb.yaml', { env: ENV })).toThrow(SuiteError);
  });
});
