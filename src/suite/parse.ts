import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type YAMLError } from 'yaml';
import { z } from 'zod';
import { ENV_NAME, ResourcesSchema, TaskSpecSchema, type SubmitBody, type TaskSpec } from '../schema/task.js';

// Suite files (DESIGN.md section 4): JSON for a `.json` file, YAML otherwise (`.yaml`, `.yml`); `defaults` merged under every task, `matrix:` expanded,
// then every task validated as an API TaskSpec. Errors name the file (and line), the task and the field.
//
// Matrix naming rule: a task whose `name` contains no `${{ matrix.* }}` placeholder gets one suffix per
// expansion, `NAME@VAR:VALUE+VAR:VALUE` in matrix key order (`cpu-bench@batch:1000`), because the TaskSpec
// name pattern allows `@ : +` but not `[ = ,`. Characters of a value the pattern does not allow become `_`.
// A name that does contain a placeholder is used as substituted. `dependsOn: [NAME]` naming the base name of
// a matrix task means all of its expansions.
//
// Secrets: `secretEnv: [NAME, ...]` (in a task or in defaults) lists variables whose values are read from the
// environment of the process that parses the suite (`drm run`, `drm submit`), so that no secret is written in
// the suite file; the parsed task carries them as the API's `secretEnv: {NAME: value}`.

export interface Suite {
  name: string;
  /** Expanded tasks; `dependsOn` holds task names, matrix base names already replaced by their expansions. */
  tasks: TaskSpec[];
}

export interface SuiteProblem {
  /** Task name, or `tasks[i]` for a task without a usable name. */
  task?: string;
  /** Dotted field path inside the task (or the suite file), e.g. `resources.cpu`, `command[2]`. */
  field?: string;
  line?: number;
  message: string;
}

export class SuiteError extends Error {
  readonly file: string;
  readonly task?: string;
  readonly field?: string;
  readonly line?: number;
  /** Every problem found in the failing phase; the message describes the first. */
  readonly problems: readonly SuiteProblem[];

  constructor(file: string, problems: readonly SuiteProblem[]) {
    const first = problems[0] ?? { message: 'invalid suite' };
    super(formatProblem(file, first) + moreSuffix(problems.length - 1));
    this.name = 'SuiteError';
    this.file = file;
    this.task = first.task;
    this.field = first.field;
    this.line = first.line;
    this.problems = problems.length > 0 ? problems : [first];
  }
}

function formatProblem(file: string, p: SuiteProblem): string {
  const where = p.line !== undefined ? `${file}:${p.line}` : file;
  const task = p.task !== undefined ? ` task ${p.task.startsWith('tasks[') ? p.task : `"${p.task}"`}:` : '';
  const field = p.field !== undefined ? ` field "${p.field}":` : '';
  return oneLine(`${where}:${task}${field} ${p.message}`);
}

/** Names and keys come from the file and may hold line breaks or control characters: escape them, so an error stays one line. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

function moreSuffix(n: number): string {
  return n > 0 ? ` (and ${n} more problem${n === 1 ? '' : 's'})` : '';
}

/** A suite is already a submission in all but the key name. */
export function suiteToSubmission(suite: Suite): SubmitBody {
  return { suite: suite.name, tasks: suite.tasks };
}

export interface ParseOptions {
  /** Where `secretEnv` names are looked up (default: this process's environment). */
  env?: Record<string, string | undefined>;
}

export async function loadSuite(path: string, opts: ParseOptions = {}): Promise<Suite> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new SuiteError(path, [{ message: `cannot read suite file: ${why}` }]);
  }
  return parseSuite(text, path, opts);
}

// Bounds that keep a typo in a matrix from producing millions of tasks; the API accepts at most 100,000.
const MAX_EXPANSIONS_PER_TASK = 10_000;
const MAX_TASKS = 100_000;

const MATRIX_VAR = /^[A-Za-z_][\w-]*$/;
const PLACEHOLDER = /\$\{\{\s*([^}]*?)\s*\}\}/g;
const HAS_PLACEHOLDER = /\$\{\{/;
const WHOLE_PLACEHOLDER = /^\$\{\{\s*([^}]*?)\s*\}\}$/;
const PER_TASK_ONLY = new Set(['name', 'command', 'dependsOn', 'matrix']);
const NAME_UNSAFE = /[^\w.:@/+-]/g;

const SuiteFileSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  defaults: z.record(z.string(), z.unknown()).optional(),
  tasks: z.array(z.unknown()).min(1, 'a suite needs at least one task').max(MAX_TASKS),
});

// Only validates: the raw defaults are what gets merged, because parsing fills in TaskSpec defaults
// (kind, priority...) that would then override a value the suite never set.
const DefaultsSchema = TaskSpecSchema.omit({ name: true, command: true, dependsOn: true }).partial();

const MatrixSchema = z
  .record(
    z.string().regex(MATRIX_VAR, 'matrix variable names are letters, digits, _ and -, starting with a letter or _'),
    z.array(z.union([z.string(), z.number(), z.boolean()])).min(1, 'a matrix variable needs at least one value'),
  )
  .refine((m) => Object.keys(m).length > 0, 'a matrix needs at least one variable');

type Scalar = string | number | boolean;
type Combo = Record<string, Scalar>;
type Path = (string | number)[];

// Fields whose value becomes a number when it is exactly one placeholder (`batchSize: ${{ matrix.batch }}`).
const NUMERIC_FIELDS = new Set(['priority', 'timeoutSec', 'maxRetries', 'batchSize']);
const NUMERIC_RESOURCES = new Set(['cpu', 'memoryMb', 'gpus', 'gpuMemoryMb']);

function isNumericPath(path: Path): boolean {
  if (path.length === 1) return NUMERIC_FIELDS.has(String(path[0]));
  if (path[0] !== 'resources') return false;
  if (path.length === 2) return NUMERIC_RESOURCES.has(String(path[1]));
  return path.length === 3 && path[1] === 'custom';
}

interface Source {
  data: unknown;
  /** Line (1-based) of the value at `path`, or of its nearest ancestor present in the file. */
  lineOf(path: Path): number | undefined;
}

export function parseSuite(text: string, file: string, opts: ParseOptions = {}): Suite {
  const env = opts.env ?? process.env;
  const source = readSource(text, file);
  const fail = (problems: SuiteProblem[]) => {
    if (problems.length > 0) throw new SuiteError(file, problems);
  };
  const duplicate = (name: string, index: number, otherIndex: number): SuiteProblem => ({
    task: name,
    field: 'name',
    line: source.lineOf(['tasks', index, 'name']),
    message: `duplicate task name (also used by tasks[${otherIndex}])`,
  });

  if (!isPlainObject(source.data)) {
    fail([{ line: source.lineOf([]), message: `expected a suite object with name, defaults and tasks, received ${describe(source.data)}` }]);
  }

  const top = SuiteFileSchema.safeParse(source.data);
  if (!top.success) {
    fail(zodProblems(top.error, source.data, (path) => source.lineOf(path), undefined, 'top-level field'));
  }
  const { name: suiteName, defaults: rawDefaults = {}, tasks: rawTasks } = top.data!;
  const secretProblems: SuiteProblem[] = [];
  const defaults = withSecretValues(rawDefaults, env, (path, message) =>
    secretProblems.push({ field: `defaults.${formatPath(path)}`, line: source.lineOf(['defaults', ...path]), message }),
  );
  fail(secretProblems);

  const defaultsCheck = DefaultsSchema.safeParse(defaults);
  if (!defaultsCheck.success) {
    fail(
      zodProblems(defaultsCheck.error, defaults, (path) => source.lineOf(['defaults', ...path]), undefined, 'field in defaults').map(
        (p) => ({ ...p, field: p.field === undefined ? 'defaults' : `defaults.${p.field}` }),
      ),
    );
  }

  // Expansion: defaults merged under each task, then one copy per matrix combination with placeholders replaced.
  interface Expanded {
    index: number;
    base?: string;
    fromMatrix: boolean;
    value: Record<string, unknown>;
  }
  const expanded: Expanded[] = [];
  const problems: SuiteProblem[] = [];
  rawTasks.forEach((raw, index) => {
    const at = (path: Path) => source.lineOf(['tasks', index, ...path]);
    if (!isPlainObject(raw)) {
      problems.push({ task: `tasks[${index}]`, line: at([]), message: `expected a task object, received ${describe(raw)}` });
      return;
    }
    const base = typeof raw.name === 'string' && raw.name.length > 0 ? raw.name : undefined;
    const label = base ?? `tasks[${index}]`;
    const secretProblems: SuiteProblem[] = [];
    const { matrix, ...fields } = withSecretValues(raw, env, (path, message) => secretProblems.push({ task: label, field: formatPath(path), line: at(path), message }));
    if (secretProblems.length > 0) {
      problems.push(...secretProblems);
      return;
    }
    const merged = mergeDefaults(defaults, fields);

    let combos: (Combo | undefined)[] = [undefined];
    if (matrix !== undefined) {
      const m = MatrixSchema.safeParse(matrix);
      if (!m.success) {
        problems.push(
          ...zodProblems(m.error, matrix, (path) => at(['matrix', ...path]), label, 'field').map((p) => ({
            ...p,
            field: p.field === undefined ? 'matrix' : `matrix.${p.field}`,
          })),
        );
        return;
      }
      const size = Object.values(m.data).reduce((n, values) => n * values.length, 1);
      if (size > MAX_EXPANSIONS_PER_TASK) {
        problems.push({ task: label, field: 'matrix', line: at(['matrix']), message: `expands to ${size} tasks (at most ${MAX_EXPANSIONS_PER_TASK})` });
        return;
      }
      combos = cartesian(m.data);
    }

    for (const combo of combos) {
      const subProblems: SuiteProblem[] = [];
      const value = substitute(merged, combo, [], (path, message) =>
        subProblems.push({ task: label, field: formatPath(path), line: at(path), message }),
      ) as Record<string, unknown>;
      if (subProblems.length > 0) {
        problems.push(...subProblems);
        return; // every combination would repeat the same placeholder problem
      }
      if (combo && base !== undefined && !HAS_PLACEHOLDER.test(base)) value.name = matrixName(base, combo);
      expanded.push({ index, base, fromMatrix: combo !== undefined, value });
    }
  });
  fail(problems);
  if (expanded.length > MAX_TASKS) fail([{ field: 'tasks', message: `expands to ${expanded.length} tasks (at most ${MAX_TASKS})` }]);

  // Each expanded task must be a valid API task.
  const tasks: TaskSpec[] = [];
  for (const e of expanded) {
    const label = typeof e.value.name === 'string' && e.value.name.length > 0 ? e.value.name : (e.base ?? `tasks[${e.index}]`);
    const parsed = TaskSpecSchema.safeParse(e.value);
    const both = parsed.success ? Object.keys(parsed.data.secretEnv ?? {}).filter((name) => parsed.data.env && Object.hasOwn(parsed.data.env, name)) : [];
    if (both.length > 0) {
      problems.push({ task: label, field: `secretEnv`, line: source.lineOf(['tasks', e.index, 'secretEnv']), message: `${both.join(', ')} set in both env and secretEnv` });
    } else if (parsed.success) tasks.push(parsed.data);
    else problems.push(...zodProblems(parsed.error, e.value, (path) => source.lineOf(['tasks', e.index, ...path]), label, 'field'));
  }
  fail(problems);

  // Names: unique, and a matrix base name may be neither another task's name nor another matrix task's base
  // name, since `dependsOn` on it would be ambiguous.
  const indexOf = new Map<string, number>();
  tasks.forEach((t, i) => {
    const first = indexOf.get(t.name);
    if (first === undefined) indexOf.set(t.name, i);
    else problems.push(duplicate(t.name, expanded[i].index, expanded[first].index));
  });
  const groups = new Map<string, { index: number; names: string[] }>();
  const reported = new Set<string>();
  tasks.forEach((t, i) => {
    const { base, index, fromMatrix } = expanded[i];
    if (!fromMatrix || base === undefined || HAS_PLACEHOLDER.test(base)) return;
    let group = groups.get(base);
    if (!group) {
      group = { index, names: [] };
      groups.set(base, group);
      const clash = indexOf.get(base);
      if (clash !== undefined) problems.push(duplicate(base, index, expanded[clash].index));
    } else if (group.index !== index && !reported.has(base)) {
      reported.add(base);
      problems.push(duplicate(base, index, group.index));
    }
    group.names.push(t.name);
  });
  fail(problems);

  // Dependencies: names resolve to tasks, matrix base names to all their expansions.
  tasks.forEach((t, i) => {
    if (!t.dependsOn) return;
    const resolved: string[] = [];
    t.dependsOn.forEach((dep, k) => {
      if (indexOf.has(dep)) resolved.push(dep);
      else if (groups.has(dep)) resolved.push(...groups.get(dep)!.names);
      else {
        problems.push({
          task: t.name,
          field: `dependsOn[${k}]`,
          line: source.lineOf(['tasks', expanded[i].index, 'dependsOn', k]),
          message: `unknown dependency "${dep}" (no task or matrix task has that name)`,
        });
      }
    });
    t.dependsOn = [...new Set(resolved)];
  });
  fail(problems);

  const cycle = findCycle(tasks);
  if (cycle) {
    const i = indexOf.get(cycle[0])!;
    fail([
      {
        task: cycle[0],
        field: 'dependsOn',
        line: source.lineOf(['tasks', expanded[i].index, 'dependsOn']),
        message: `dependency cycle: ${cycle.join(' -> ')}`,
      },
    ]);
  }

  return { name: suiteName ?? defaultSuiteName(file), tasks };
}

function defaultSuiteName(file: string): string {
  const name = basename(file, extname(file)).slice(0, 200);
  return name.length > 0 ? name : 'suite';
}

// ---- reading -------------------------------------------------------------------------------------------

function readSource(text: string, file: string): Source {
  const isJson = extname(file).toLowerCase() === '.json';
  const lineCounter = new LineCounter();
  // JSON is parsed as YAML too (JSON is YAML 1.2 flow syntax): that gives line numbers and catches duplicate keys.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter });
  const yamlError = doc.errors[0];

  let data: unknown;
  if (isJson) {
    try {
      data = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch (err) {
      const message = (err as Error).message;
      // V8 reports a position for some errors and quotes the input for others; prefer a line number.
      const pos = /at position (\d+)/.exec(message);
      const line = pos ? lineCounter.linePos(Number(pos[1])).line : yamlError?.linePos?.[0].line;
      const detail = message.replace(/, ".*" is not valid JSON$/s, '').replace(/ in JSON at position \d+.*$/s, '').replace(/\s+/g, ' ');
      throw new SuiteError(file, [{ line, message: `invalid JSON: ${detail}` }]);
    }
    const dup = doc.errors.find((e) => e.code === 'DUPLICATE_KEY');
    if (dup) throw new SuiteError(file, [yamlProblem(dup, text, doc)]);
  } else {
    if (yamlError) throw new SuiteError(file, doc.errors.map((e) => yamlProblem(e, text, doc)));
    try {
      // Aliases are expanded here: an unknown one, or so many that they multiply the document (an "alias
      // bomb"), throw from the yaml library (at most 100 per alias node, its default).
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      throw new SuiteError(file, [{ message: `YAML error: ${(err as Error).message.split('\n')[0]}` }]);
    }
  }

  const linesUsable = !isJson || doc.errors.length === 0;
  return {
    data,
    lineOf(path) {
      if (!linesUsable) return undefined;
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
        if (node && typeof node === 'object' && node.range) return lineCounter.linePos(node.range[0]).line;
      }
      return undefined;
    },
  };
}

function yamlProblem(e: YAMLError, text: string, doc: Document): SuiteProblem {
  const line = e.linePos?.[0].line;
  const task = taskAt(doc, e.pos[0]);
  // prettyErrors appends " at line L, column C:" and a source excerpt; keep one line.
  const message = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  if (e.code === 'DUPLICATE_KEY') {
    const key = /^\s*(?:"([^"]*)"|'([^']*)'|([^:\n]+?))\s*:/.exec(text.slice(e.pos[0]));
    const name = key ? (key[1] ?? key[2] ?? key[3]) : undefined;
    return { line, task, field: name, message: 'duplicate key' };
  }
  return { line, task, message: `YAML syntax error: ${message}` };
}

/** Name (or `tasks[i]`) of the task whose source text contains `offset`; the document may be partial. */
function taskAt(doc: Document, offset: number): string | undefined {
  const tasks = doc.get('tasks', true);
  if (!isSeq(tasks)) return undefined;
  for (const [i, item] of tasks.items.entries()) {
    const range = (item as { range?: [number, number, number] } | null)?.range;
    if (!range || offset < range[0] || offset > range[2]) continue;
    const name = isMap(item) ? item.get('name') : undefined;
    return typeof name === 'string' && name.length > 0 ? name : `tasks[${i}]`;
  }
  return undefined;
}

// ---- merging and expansion ---------------------------------------------------------------------------------

function mergeDefaults(defaults: Record<string, unknown>, task: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...defaults, ...task };
  // env, secretEnv and labels merge key by key (the task wins); resources and everything else are replaced whole.
  for (const key of ['env', 'secretEnv', 'labels']) {
    const d = defaults[key];
    const t = task[key];
    if (isPlainObject(d) && isPlainObject(t)) out[key] = { ...d, ...t };
  }
  return out;
}

/**
 * `value` with its `secretEnv` list of names replaced by `{NAME: value}` from `env`; problems (not a list, a bad
 * name, an unset variable) are reported with paths relative to `value`.
 */
function withSecretValues(value: Record<string, unknown>, env: Record<string, string | undefined>, report: (path: Path, message: string) => void): Record<string, unknown> {
  const list = value.secretEnv;
  if (list === undefined) return value;
  if (!Array.isArray(list)) {
    report(['secretEnv'], `expected a list of environment variable names, received ${describe(list)} (their values come from the environment of drm run / drm submit, never from the suite file)`);
    return value;
  }
  const out: Record<string, string> = {};
  list.forEach((name, i) => {
    if (typeof name !== 'string' || !ENV_NAME.test(name)) report(['secretEnv', i], 'expected an environment variable name (letters, digits and _)');
    else if (env[name] === undefined) report(['secretEnv', i], `environment variable ${name} is not set (secretEnv values come from the environment of drm run / drm submit)`);
    else out[name] = env[name];
  });
  return { ...value, secretEnv: out };
}

function cartesian(matrix: Record<string, Scalar[]>): Combo[] {
  let combos: Combo[] = [{}];
  for (const [key, values] of Object.entries(matrix)) {
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  }
  return combos;
}

function matrixName(base: string, combo: Combo): string {
  const parts = Object.entries(combo).map(([k, v]) => `${k}:${String(v).replace(NAME_UNSAFE, '_')}`);
  return `${base}@${parts.join('+')}`;
}

/** Deep copy of `value` with `${{ matrix.X }}` replaced in every string; object keys are left alone. */
function substitute(value: unknown, combo: Combo | undefined, path: Path, report: (path: Path, message: string) => void): unknown {
  if (typeof value === 'string') return substituteString(value, combo, path, report);
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, combo, [...path, i], report));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, combo, [...path, k], report);
    return out;
  }
  return value;
}

function substituteString(text: string, combo: Combo | undefined, path: Path, report: (path: Path, message: string) => void): unknown {
  if (!text.includes('${{')) return text;
  const lookup = (expr: string): Scalar | undefined => {
    const m = /^matrix\.(.+)$/.exec(expr);
    if (!m) {
      report(path, `unsupported expression "\${{ ${expr} }}" (only \${{ matrix.NAME }} is supported)`);
      return undefined;
    }
    const name = m[1];
    if (!combo) {
      report(path, `unknown matrix variable "${name}" (this task has no matrix)`);
      return undefined;
    }
    if (!Object.hasOwn(combo, name)) {
      report(path, `unknown matrix variable "${name}" (matrix has ${Object.keys(combo).join(', ')})`);
      return undefined;
    }
    return combo[name];
  };

  const whole = WHOLE_PLACEHOLDER.exec(text);
  if (whole && isNumericPath(path)) {
    const v = lookup(whole[1]);
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
    return v === undefined ? text : String(v); // not numeric: TaskSpec validation names the field
  }
  return text.replace(PLACEHOLDER, (match, expr: string) => {
    const v = lookup(expr);
    return v === undefined ? match : String(v);
  });
}

// ---- validation helpers ------------------------------------------------------------------------------------

/** Depth-first search (iterative: chains can be long); returns the first cycle as names, closed (`a -> b -> a`). */
function findCycle(tasks: readonly TaskSpec[]): string[] | undefined {
  const deps = new Map(tasks.map((t) => [t.name, t.dependsOn ?? []]));
  const state = new Map<string, 'visiting' | 'done'>();
  for (const start of tasks) {
    if (state.has(start.name)) continue;
    const stack: { name: string; next: number }[] = [{ name: start.name, next: 0 }];
    state.set(start.name, 'visiting');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const list = deps.get(top.name)!;
      if (top.next >= list.length) {
        state.set(top.name, 'done');
        stack.pop();
        continue;
      }
      const dep = list[top.next++];
      const s = state.get(dep);
      if (s === 'visiting') {
        const from = stack.findIndex((f) => f.name === dep);
        return [...stack.slice(from).map((f) => f.name), dep];
      }
      if (s === undefined) {
        state.set(dep, 'visiting');
        stack.push({ name: dep, next: 0 });
      }
    }
  }
  return undefined;
}

function zodProblems(
  error: z.ZodError,
  input: unknown,
  lineOf: (path: Path) => number | undefined,
  task: string | undefined,
  unknownWhat: string,
): SuiteProblem[] {
  // An unknown key is usually the cause of the other issues (a typo leaves a required field missing): first.
  const issues = [...error.issues].sort((a, b) => rank(a) - rank(b));
  return issues.map((issue) => {
    let path = issue.path as Path;
    let message = issue.message.replace(/^Invalid input: /, '');
    if (issue.code === 'unrecognized_keys') {
      // One problem per issue, naming the first unknown key; the rest are listed.
      const keys = issue.keys;
      path = [...path, keys[0]];
      const hint = suggestion(keys[0], knownKeys(issue.path as Path, unknownWhat));
      message =
        PER_TASK_ONLY.has(keys[0]) && unknownWhat === 'field in defaults'
          ? 'not allowed in defaults (name, command, dependsOn and matrix belong to each task)'
          : `unknown ${unknownWhat}${hint ? ` (did you mean "${hint}"?)` : ''}${keys.length > 1 ? ` (also unknown: ${keys.slice(1).join(', ')})` : ''}`;
    } else if (issue.code === 'invalid_key') {
      message = `invalid key: ${issue.issues[0]?.message ?? issue.message}`;
    } else if (issue.code === 'invalid_type') {
      if (valueAt(input, issue.path as Path) === undefined) message = 'required field is missing';
      else if (issue.expected === 'int') message = 'expected an integer';
    }
    return { task, field: path.length > 0 ? formatPath(path) : undefined, line: lineOf(path), message };
  });
}

function rank(issue: z.core.$ZodIssue): number {
  return issue.code === 'unrecognized_keys' ? 0 : 1;
}

// Only the objects a user writes by hand get suggestions: the suite, a task, and a task's resources.
function knownKeys(path: Path, unknownWhat: string): string[] {
  if (unknownWhat === 'top-level field') return Object.keys(SuiteFileSchema.shape);
  if (path.length === 0) return [...Object.keys(TaskSpecSchema.shape), 'matrix'];
  if (path.length === 1 && path[0] === 'resources') return Object.keys(ResourcesSchema.shape);
  return [];
}

/** The known key closest to a misspelt one, if within edit distance 2. */
function suggestion(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

function valueAt(root: unknown, path: Path): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[key];
  }
  return v;
}

function formatPath(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}
