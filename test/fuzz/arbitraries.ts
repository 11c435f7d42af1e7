import fc from 'fast-check';

// Generators of hostile input shared by the fuzz tests: values that look like tasks and submissions (right
// keys, values valid or subtly not), and plain garbage.

/** Strings a hostile client would try: empty, huge-ish, control characters, placeholders, path tricks, lone surrogates. */
export const nastyString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', ' ', '\u0000', '\n', '\ud800', '${{ matrix.x }}', '${{ env.HOME }}', '../../etc/passwd', '__proto__', 'constructor', 'a'.repeat(300), '💥', 'true', '1e309', '-0'),
);

export const nastyNumber = fc.oneof(
  fc.integer({ min: -5, max: 100 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
  fc.constantFrom(0, -1, 0.5, 2 ** 31, 2 ** 53, 2 ** 63, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2),
);

/** Any JSON-ish scalar or small structure. */
export const junk: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  nastyString,
  nastyNumber,
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 2 }),
);

const taskName = fc.oneof({ weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/) }, { weight: 1, arbitrary: nastyString });
const envName = fc.oneof({ weight: 4, arbitrary: fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,6}$/) }, { weight: 1, arbitrary: nastyString });
const orJunk = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: junk });

const resources = fc.record(
  {
    cpu: orJunk(fc.double({ min: 0, max: 64, noNaN: true })),
    memoryMb: orJunk(fc.integer({ min: 0, max: 1 << 20 })),
    gpus: orJunk(fc.integer({ min: 0, max: 8 })),
    gpuMemoryMb: orJunk(fc.integer({ min: 0, max: 1 << 16 })),
    custom: orJunk(fc.dictionary(fc.oneof(fc.stringMatching(/^[a-z][a-z.]{0,5}$/), fc.constantFrom('constructor', 'toString', 'valueOf')), fc.integer({ min: 0, max: 10 }), { maxKeys: 2 })),
  },
  { requiredKeys: [] },
);

/** A task as the API takes it: every field optional, each valid most of the time, unknown keys sometimes. */
export function taskLike(opts: { secretEnvAsList?: boolean; names?: fc.Arbitrary<string> } = {}): fc.Arbitrary<Record<string, unknown>> {
  const names = opts.names ?? taskName;
  return fc
    .record(
      {
        name: orJunk(names),
        kind: orJunk(fc.constantFrom('command', 'test', 'benchmark', 'bogus')),
        command: orJunk(fc.array(fc.oneof(fc.constantFrom('node', '-e', '', 'true'), nastyString), { minLength: 0, maxLength: 4 })),
        env: orJunk(fc.dictionary(envName, nastyString, { maxKeys: 3 })),
        secretEnv: opts.secretEnvAsList
          ? orJunk(fc.array(fc.constantFrom('FUZZ_SECRET', 'FUZZ_OTHER', 'NOT_SET_ANYWHERE', 'bad name'), { maxLength: 3 }))
          : orJunk(fc.dictionary(envName, nastyString, { maxKeys: 2 })),
        cwd: orJunk(nastyString),
        resources: orJunk(resources),
        labels: orJunk(fc.dictionary(nastyString, nastyString, { maxKeys: 2 })),
        priority: orJunk(fc.integer({ min: -1000, max: 1000 })),
        timeoutSec: orJunk(fc.integer({ min: 1, max: 3600 })),
        maxRetries: orJunk(fc.integer({ min: 0, max: 5 })),
        dependsOn: orJunk(fc.array(names, { maxLength: 3 })),
        modelType: orJunk(nastyString),
        modelName: orJunk(nastyString),
        batchSize: orJunk(fc.oneof(fc.integer({ min: 1, max: 512 }), fc.constant('${{ matrix.b }}'))),
        matrix: orJunk(fc.dictionary(fc.constantFrom('b', 'x', 'bad var'), fc.array(fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom('a', 'b')), { maxLength: 3 }), { maxKeys: 2 })),
        surprise: junk,
      },
      { requiredKeys: [] },
    )
    .map((t) => t as Record<string, unknown>);
}

/** Plausible names for tasks of one submission, so that dependsOn sometimes resolves. */
export const poolName = fc.constantFrom('a', 'b', 'c', 'd');

/** A task the API must accept (on its own; names and dependencies are fixed up per submission). */
export const validTask = fc.record(
  {
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
    command: fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 3 }),
    kind: fc.constantFrom('command', 'test', 'benchmark'),
    env: fc.dictionary(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,5}$/), fc.string({ maxLength: 8 }), { maxKeys: 2 }),
    resources: fc.record({ cpu: fc.double({ min: 0, max: 4096, noNaN: true }), memoryMb: fc.integer({ min: 0, max: 1 << 20 }) }, { requiredKeys: [] }),
    priority: fc.integer({ min: -1000, max: 1000 }),
    batchSize: fc.integer({ min: 1, max: 1_000_000_000 }),
    modelType: fc.string({ minLength: 1, maxLength: 100 }),
  },
  { requiredKeys: ['name', 'command'] },
);

/** A submission the API must accept: unique names, dependencies only on earlier tasks. */
export const validSubmission = fc
  .record({ suite: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }), tasks: fc.array(validTask, { minLength: 1, maxLength: 4 }) }, { requiredKeys: ['tasks'] })
  .map(({ suite, tasks }) => ({
    ...(suite !== undefined ? { suite } : {}),
    tasks: tasks.map((t, i) => ({ ...t, name: `${t.name}-${i}`, ...(i > 0 && i % 2 === 0 ? { dependsOn: [`${tasks[i - 1].name}-${i - 1}`] } : {}) })),
  }));
