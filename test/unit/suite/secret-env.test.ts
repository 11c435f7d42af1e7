import { describe, expect, it } from 'vitest';
import { parseSuite, SuiteError } from '../../../src/suite/parse.js';

const env = { API_KEY: 'k-value', DB_PASS: 'p-value' };

describe('secretEnv in suite files', () => {
  it('takes the values of the listed names from the environment; defaults merge by name', () => {
    const suite = parseSuite('name: s\ndefaults: { secretEnv: [DB_PASS] }\ntasks:\n  - name: a\n    command: [x]\n    secretEnv: [API_KEY]\n  - name: b\n    command: [x]\n', 's.yaml', { env });
    expect(suite.tasks[0].secretEnv).toEqual({ DB_PASS: 'p-value', API_KEY: 'k-value' });
    expect(suite.tasks[1].secretEnv).toEqual({ DB_PASS: 'p-value' });
  });

  it('names the file, line, task and field of an unset variable, a bad name, a map, or a clash with env', () => {
    const cases: Array<[string, RegExp]> = [
      ['tasks:\n  - name: a\n    command: [x]\n    secretEnv: [API_KEY, NOPE]\n', /s\.yaml:4: task "a": field "secretEnv\[1\]": environment variable NOPE is not set/],
      ['tasks:\n  - name: a\n    command: [x]\n    secretEnv: ["bad name"]\n', /field "secretEnv\[0\]": expected an environment variable name/],
      ['tasks:\n  - name: a\n    command: [x]\n    secretEnv: { API_KEY: literal }\n', /field "secretEnv": expected a list of environment variable names, received object/],
      ['defaults:\n  secretEnv: [NOPE]\ntasks:\n  - name: a\n    command: [x]\n', /s\.yaml:2: field "defaults\.secretEnv\[0\]": environment variable NOPE is not set/],
      ['tasks:\n  - name: a\n    command: [x]\n    env: { API_KEY: plain }\n    secretEnv: [API_KEY]\n', /task "a": field "secretEnv": API_KEY set in both env and secretEnv/],
    ];
    for (const [text, pattern] of cases) {
      const err = (() => {
        try {
          parseSuite(text, 's.yaml', { env });
        } catch (e) {
          return e;
        }
      })();
      expect(err, text).toBeInstanceOf(SuiteError);
      expect((err as Error).message, text).toMatch(pattern);
    }
  });
});
