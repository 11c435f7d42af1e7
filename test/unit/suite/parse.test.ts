import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadSuite, parseSuite, SuiteError, suiteToSubmission, type Suite } from '../../../src/suite/parse.js';
import { SubmitBodySchema, type TaskSpec } from '../../../src/schema/task.js';
import { fits, resources } from '../../../src/core/resources.js';
import { BUILTIN_WORKER_TYPES, smallestFittingType } from '../../../src/core/worker-types.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLE = 'examples/suite.yaml';

function task(suite: Suite, name: string): TaskSpec {
  const t = suite.tasks.find((x) => x.name === name);
  if (!t) throw new Error(`no task ${name} in ${suite.tasks.map((x) => x.name).join(', ')}`);
  return t;
}

/** Parses and returns the SuiteError, failing the test when parsing succeeds. */
function suiteError(text: string, file = 'suite.yaml'): SuiteError {
  try {
    parseSuite(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(SuiteError);
    return err as SuiteError;
  }
  throw new Error('expected a SuiteError');
}

const CMD = '[node, -e, "0"]';

describe('examples/suite.yaml', () => {
  it('parses into the expanded tasks with defaults applied', async () => {
    const suite = await loadSuite(`${ROOT}${EXAMPLE}`);
    expect(suite.name).toBe('example');
    expect(suite.tasks.map((t) => t.name)).toEqual([
      'unit-math',
      'unit-strings',
      'cpu-bench@batch:1',
      'cpu-bench@batch:8',
      'memory-hog',
      'embed-bench',
      'gpu-check',
    ]);
    for (const t of suite.tasks) {
      expect(t.timeoutSec).toBe(120);
      expect(t.labels?.suite).toBe('example');
    }
    expect(task(suite, 'unit-math')).toMatchObject({ kind: 'test', command: ['node', '--test', 'examples/tests/math.test.js'], maxRetries: 1 });
    expect(task(suite, 'cpu-bench@batch:8')).toMatchObject({
      kind: 'benchmark',
      command: ['node', 'examples/bench/cpu-bench.js', '--batch', '8', '--seconds', '1.5'],
      batchSize: 8,
      env: { BENCH_BATCH: '8' },
      labels: { suite: 'example', batch: '8' },
    });
    const embed = task(suite, 'embed-bench');
    expect(embed.resources).toBeUndefined();
    expect(embed).toMatchObject({ modelType: 'text_embedding', batchSize: 16 });
    expect(task(suite, 'gpu-check')).toMatchObject({ dependsOn: ['unit-math', 'unit-strings'], maxRetries: 0 });
  });

  it('declares resources that land each task on the intended built-in worker type', async () => {
    const suite = await loadSuite(`${ROOT}${EXAMPLE}`);
    const fittingTypes = (name: string) =>
      BUILTIN_WORKER_TYPES.filter((w) => fits(resources(task(suite, name).resources ?? { cpu: 1, memoryMb: 512 }), w.resources)).map((w) => w.name);
    expect(fittingTypes('memory-hog')).toEqual(['high-memory']);
    expect(fittingTypes('gpu-check')).toEqual(['gpu']);
    for (const name of ['unit-math', 'unit-strings', 'cpu-bench@batch:1', 'cpu-bench@batch:8', 'embed-bench']) {
      expect(smallestFittingType(BUILTIN_WORKER_TYPES, resources(task(suite, name).resources ?? { cpu: 1, memoryMb: 512 }))?.name).toBe('cpu');
    }
  });

  it('gives the same suite from its JSON equivalent', async () => {
    const text = readFileSync(`${ROOT}${EXAMPLE}`, 'utf8');
    const fromJson = parseSuite(JSON.stringify(parseYaml(text), null, 2), 'examples/suite.json');
    expect(fromJson).toEqual(await loadSuite(`${ROOT}${EXAMPLE}`));
  });

  it('is a valid API submission', async () => {
    const body = suiteToSubmission(await loadSuite(`${ROOT}${EXAMPLE}`));
    expect(body.suite).toBe('example');
    expect(SubmitBodySchema.safeParse(body).success).toBe(true);
  });
});

describe('parseSuite', () => {
  it('names the suite after the file when it has no name', () => {
    expect(parseSuite(`tasks: [{name: a, command: ${CMD}}]`, 'ci/nightly.yml').name).toBe('nightly');
  });

  it('merges defaults under tasks: env and labels key-wise, resources whole, scalars overridden', () => {
    const suite = parseSuite(
      `
defaults:
  kind: test
  priority: 5
  env: { A: "1", B: "2" }
  labels: { team: infra, tier: slow }
  resources: { cpu: 2, memoryMb: 2048 }
tasks:
  - name: plain
    command: ${CMD}
  - name: custom
    command: ${CMD}
    priority: -1
    env: { B: "3", C: "4" }
    labels: { tier: fast }
    resources: { memoryMb: 100 }
`,
      'defaults.yaml',
    );
    expect(task(suite, 'plain')).toMatchObject({
      kind: 'test',
      priority: 5,
      env: { A: '1', B: '2' },
      labels: { team: 'infra', tier: 'slow' },
      resources: { cpu: 2, memoryMb: 2048 },
    });
    const custom = task(suite, 'custom');
    expect(custom).toMatchObject({ kind: 'test', priority: -1, env: { A: '1', B: '3', C: '4' }, labels: { team: 'infra', tier: 'fast' } });
    expect(custom.resources).toEqual({ memoryMb: 100 });
  });

  it('applies TaskSpec defaults to fields neither the task nor defaults set', () => {
    const [t] = parseSuite(`tasks: [{name: a, command: ${CMD}}]`, 's.yaml').tasks;
    expect(t).toEqual({ name: 'a', kind: 'command', command: ['node', '-e', '0'], priority: 0, timeoutSec: 600, maxRetries: 0 });
  });

  describe('matrix', () => {
    const text = `
tasks:
  - name: bench
    kind: benchmark
    matrix:
      batch: [1, 8]
      model: [small, large]
    command: [node, bench.js, --batch, "\${{ matrix.batch }}", "--model=\${{matrix.model}}"]
    batchSize: \${{ matrix.batch }}
    priority: "\${{ matrix.batch }}"
    modelName: "m-\${{ matrix.model }}"
    cwd: work/\${{ matrix.model }}
    env: { BATCH: "\${{ matrix.batch }}" }
    labels: { model: "\${{ matrix.model }}" }
    resources: { cpu: "\${{ matrix.batch }}", memoryMb: 512, custom: { slots: "\${{ matrix.batch }}" } }
  - name: report
    command: ${CMD}
    dependsOn: [bench]
  - name: one
    command: ${CMD}
    dependsOn: ["bench@batch:8+model:large"]
`;

    it('expands to the cartesian product, first variable slowest, with NAME@VAR:VALUE names', () => {
      const suite = parseSuite(text, 'm.yaml');
      expect(suite.tasks.map((t) => t.name)).toEqual([
        'bench@batch:1+model:small',
        'bench@batch:1+model:large',
        'bench@batch:8+model:small',
        'bench@batch:8+model:large',
        'report',
        'one',
      ]);
    });

    it('substitutes placeholders in every string field and makes whole placeholders in numeric fields numbers', () => {
      const t = task(parseSuite(text, 'm.yaml'), 'bench@batch:8+model:large');
      expect(t).toMatchObject({
        command: ['node', 'bench.js', '--batch', '8', '--model=large'],
        batchSize: 8,
        priority: 8,
        modelName: 'm-large',
        cwd: 'work/large',
        env: { BATCH: '8' },
        labels: { model: 'large' },
        resources: { cpu: 8, memoryMb: 512, custom: { slots: 8 } },
      });
    });

    it('makes dependsOn on a matrix base name depend on all of its expansions', () => {
      const suite = parseSuite(text, 'm.yaml');
      expect(task(suite, 'report').dependsOn).toEqual([
        'bench@batch:1+model:small',
        'bench@batch:1+model:large',
        'bench@batch:8+model:small',
        'bench@batch:8+model:large',
      ]);
      expect(task(suite, 'one').dependsOn).toEqual(['bench@batch:8+model:large']);
    });

    it('uses a name with a placeholder as substituted, and numeric strings become numbers', () => {
      const suite = parseSuite(
        `tasks:
  - name: "run-\${{ matrix.size }}"
    matrix: { size: ["16", "32"] }
    command: ${CMD}
    batchSize: \${{ matrix.size }}
`,
        'm.yaml',
      );
      expect(suite.tasks.map((t) => [t.name, t.batchSize])).toEqual([
        ['run-16', 16],
        ['run-32', 32],
      ]);
    });

    it('replaces characters a task name may not contain in the suffix', () => {
      const suite = parseSuite(`tasks: [{name: m, matrix: {model: ["org/bert base"]}, command: ${CMD}}]`, 'm.yaml');
      expect(suite.tasks[0].name).toBe('m@model:org/bert_base');
    });

    it('rejects an unknown matrix variable, naming task, field and variable', () => {
      const err = suiteError(`tasks:\n  - name: b\n    matrix: { batch: [1] }\n    command: [node, "\${{ matrix.size }}"]\n`, 'mv.yaml');
      expect(err.message).toBe('mv.yaml:4: task "b": field "command[1]": unknown matrix variable "size" (matrix has batch)');
      expect(err).toMatchObject({ file: 'mv.yaml', task: 'b', field: 'command[1]', line: 4 });
    });

    it('rejects placeholders in a task without a matrix, and expressions other than matrix.NAME', () => {
      expect(suiteError(`tasks: [{name: a, command: [node, "\${{ matrix.x }}"]}]`).message).toContain(
        'task "a": field "command[1]": unknown matrix variable "x" (this task has no matrix)',
      );
      expect(suiteError(`tasks: [{name: a, matrix: {x: [1]}, command: [node, "\${{ env.HOME }}"]}]`).message).toContain(
        'task "a": field "command[1]": unsupported expression',
      );
    });

    it('rejects a malformed matrix and a non-numeric value in a numeric field', () => {
      expect(suiteError(`tasks: [{name: a, matrix: {batch: []}, command: ${CMD}}]`).message).toContain(
        'task "a": field "matrix.batch": a matrix variable needs at least one value',
      );
      expect(suiteError(`tasks: [{name: a, matrix: {batch: [x]}, command: ${CMD}, batchSize: "\${{ matrix.batch }}"}]`).message).toContain(
        'task "a@batch:x": field "batchSize": expected number, received string',
      );
    });
  });
});

describe('errors', () => {
  // Read from the checkout but reported under the repository-relative name the assertions use.
  const bad = async (name: string) => suiteError(readFileSync(`${ROOT}examples/bad/${name}`, 'utf8'), `examples/bad/${name}`);

  it('examples/bad/syntax.yaml: YAML syntax error with file, line and task', async () => {
    const err = await bad('syntax.yaml');
    expect(err.message).toMatch(/^examples\/bad\/syntax\.yaml:\d+: task "unit-math": YAML syntax error: /);
    expect(err.file).toBe('examples/bad/syntax.yaml');
  });

  it('examples/bad/syntax.json: JSON syntax error with file and line', async () => {
    const err = await bad('syntax.json');
    expect(err.message).toMatch(/^examples\/bad\/syntax\.json:4: invalid JSON: /);
    expect(err.line).toBe(4);
  });

  it('examples/bad/unknown-field.yaml: names the unknown field first and suggests the known one', async () => {
    const err = await bad('unknown-field.yaml');
    expect(err.message).toContain('examples/bad/unknown-field.yaml:9: task "unit-strings": field "comand": unknown field (did you mean "command"?)');
    expect(err).toMatchObject({ task: 'unit-strings', field: 'comand' });
  });

  it('examples/bad/wrong-type.yaml: names file, task and field path', async () => {
    const err = await bad('wrong-type.yaml');
    expect(err.message).toBe('examples/bad/wrong-type.yaml:7: task "unit-math": field "resources.cpu": expected number, received string');
    expect(err).toMatchObject({ file: 'examples/bad/wrong-type.yaml', task: 'unit-math', field: 'resources.cpu', line: 7 });
  });

  it('examples/bad/cycle.yaml: names the cycle path', async () => {
    const err = await bad('cycle.yaml');
    expect(err.message).toContain('task "build": field "dependsOn": dependency cycle: build -> package -> test -> build');
  });

  it('examples/bad/unknown-dependency.yaml: names the task and the missing name', async () => {
    const err = await bad('unknown-dependency.yaml');
    expect(err.message).toContain('examples/bad/unknown-dependency.yaml:10: task "gpu-check": field "dependsOn[0]": unknown dependency "unit-maths"');
  });

  it('examples/bad/duplicate-key.yaml: duplicate keys are an error naming task and key', async () => {
    const err = await bad('duplicate-key.yaml');
    expect(err.message).toBe('examples/bad/duplicate-key.yaml:7: task "unit-math": field "command": duplicate key');
  });

  it('examples/bad/unknown-matrix-var.yaml: names the variable', async () => {
    const err = await bad('unknown-matrix-var.yaml');
    expect(err.message).toContain('task "cpu-bench": field "command[3]": unknown matrix variable "size"');
  });

  it('a missing file', async () => {
    const missing = `${ROOT}examples/nope.yaml`;
    await expect(loadSuite(missing)).rejects.toThrow(`${missing}: cannot read suite file: no such file`);
  });

  it('duplicate keys in JSON', () => {
    expect(suiteError('{"name": "a", "name": "b", "tasks": []}', 'd.json').message).toBe('d.json:1: field "name": duplicate key');
  });

  it('self-dependency is a cycle', () => {
    expect(suiteError(`tasks: [{name: a, command: ${CMD}, dependsOn: [a]}]`).message).toContain(
      'task "a": field "dependsOn": dependency cycle: a -> a',
    );
  });

  it('a cycle through a matrix base name', () => {
    const err = suiteError(`tasks:
  - { name: prep, command: ${CMD}, dependsOn: [bench] }
  - { name: bench, matrix: { n: [1, 2] }, command: ${CMD}, dependsOn: [prep] }
`);
    expect(err.message).toContain('dependency cycle: prep -> bench@n:1 -> prep');
  });

  it('duplicate task names, also between a matrix base name and a task', () => {
    expect(suiteError(`tasks: [{name: a, command: ${CMD}}, {name: a, command: ${CMD}}]`).message).toContain(
      'task "a": field "name": duplicate task name (also used by tasks[0])',
    );
    expect(suiteError(`tasks: [{name: a, command: ${CMD}}, {name: a, matrix: {n: [1]}, command: ${CMD}}]`).message).toContain(
      'task "a": field "name": duplicate task name (also used by tasks[0])',
    );
  });

  it('unknown and malformed top-level fields', () => {
    expect(suiteError(`name: x\ntask: []`).message).toContain('suite.yaml:2: field "task": unknown top-level field (did you mean "tasks"?)');
    expect(suiteError(`name: x\ntasks: []`).message).toContain('field "tasks": a suite needs at least one task');
    expect(suiteError(`- a\n- b`).message).toBe('suite.yaml:1: expected a suite object with name, defaults and tasks, received an array');
    expect(suiteError('').message).toContain('suite.yaml: expected a suite object');
  });

  it('defaults may not set per-task fields and are type-checked', () => {
    expect(suiteError(`defaults: {command: [x]}\ntasks: [{name: a, command: ${CMD}}]`).message).toContain(
      'field "defaults.command": not allowed in defaults',
    );
    expect(suiteError(`defaults: {timeoutSec: soon}\ntasks: [{name: a, command: ${CMD}}]`).message).toContain(
      'suite.yaml:1: field "defaults.timeoutSec": expected number, received string',
    );
  });

  it('a missing required field, a task that is not an object, and a count of further problems', () => {
    expect(suiteError(`tasks: [{name: a}]`).message).toBe('suite.yaml:1: task "a": field "command": required field is missing');
    expect(suiteError(`tasks: [oops]`).message).toContain('task tasks[0]: expected a task object, received string');
    const err = suiteError(`tasks: [{name: a, command: ${CMD}, priority: x}, {name: b, command: ${CMD}, priority: y}]`);
    expect(err.message).toMatch(/task "a": field "priority": .* \(and 1 more problem\)$/);
    expect(err.problems).toHaveLength(2);
  });
});
