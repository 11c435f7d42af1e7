import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../src/store/duckdb.js';
import { JournaledStore, parseJournal, type JournalEntry } from '../../src/store/journal.js';
import { openStore } from '../../src/store/open.js';
import type { Change } from '../../src/store/store.js';
import { attempt, run, task } from './contract.js';

let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drm-journal-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A journaled DuckDB store that applies only when asked (or read), so tests see the journal's state. */
async function journaled(onDropped?: (entry: JournalEntry, error: unknown) => void, rotateBytes?: number): Promise<{ store: JournaledStore; path: string }> {
  const path = join(dir, `j-${n++}`, 'drm.duckdb');
  const store = new JournaledStore(await DuckDbStore.open(path), `${path}.journal`, { applyAfterMs: 3_600_000, onDropped, rotateBytes });
  await store.migrate();
  return { store, path };
}

const seed: Change[] = [
  { kind: 'runInsert', run: run() },
  { kind: 'taskInsert', task: task() },
];

describe('JournaledStore', () => {
  it('acknowledges a write once it is in the journal file, and a read sees it (the tables catch up first)', async () => {
    const { store, path } = await journaled();
    await store.write(seed);
    const journal = parseJournal(await readFile(`${path}.journal`, 'utf8'));
    expect(journal.map((e) => e.seq)).toStrictEqual([1]);
    expect(JSON.parse(journal[0].changes)).toStrictEqual(JSON.parse(JSON.stringify(seed)));
    expect(await store.getTask('task-1')).toMatchObject({ id: 'task-1', state: 'pending' });
    // Caught up: the file starts again empty.
    expect((await stat(`${path}.journal`)).size).toBe(0);
    await store.close();
  });

  it('merges many writes into one apply: an attempt inserted and then finished is one row with its last state', async () => {
    const { store } = await journaled();
    await store.write(seed);
    await store.write([{ kind: 'attemptInsert', attempt: attempt() }, { kind: 'taskUpdate', id: 'task-1', patch: { state: 'assigned', attempts: 1, currentAttemptId: 'att-1' } }]);
    await store.write([{ kind: 'attemptUpdate', id: 'att-1', patch: { state: 'running', startedAt: 5 } }, { kind: 'taskUpdate', id: 'task-1', patch: { state: 'running' } }]);
    await store.write([{ kind: 'attemptUpdate', id: 'att-1', patch: { state: 'succeeded', finishedAt: 9, exitCode: 0 } }, { kind: 'taskUpdate', id: 'task-1', patch: { state: 'succeeded', finishedAt: 9 } }]);
    expect(await store.getAttempt('att-1')).toMatchObject({ state: 'succeeded', startedAt: 5, finishedAt: 9, exitCode: 0 });
    expect(await store.getTask('task-1')).toMatchObject({ state: 'succeeded', attempts: 1, currentAttemptId: 'att-1', finishedAt: 9 });
    await store.close();
  });

  it('empties a journal that outgrew its limit while writes kept coming, applying them first', async () => {
    const { store, path } = await journaled(undefined, 1);
    await store.write(seed);
    await store.flush();
    // Queued before the apply looks at the file: when it does, they are appended but not applied.
    const writes = [
      store.write([{ kind: 'taskUpdate', id: 'task-1', patch: { state: 'assigned', attempts: 1 } }]),
      store.write([{ kind: 'taskUpdate', id: 'task-1', patch: { state: 'running' } }]),
    ];
    await store.flush();
    await Promise.all(writes);
    expect((await stat(`${path}.journal`)).size).toBe(0);
    expect(await store.inner.getTask('task-1')).toMatchObject({ state: 'running', attempts: 1 });
    await store.close();
  });

  it('writes a large submission straight to the tables, after the journaled writes before it', async () => {
    const { store, path } = await journaled();
    await store.write([{ kind: 'runInsert', run: run() }]);
    const tasks: Change[] = Array.from({ length: 1_000 }, (_, i) => ({ kind: 'taskInsert', task: task({ id: `bulk-${i}`, seq: i + 1 }) }));
    await store.write(tasks);
    // Nothing of it went to the journal, and the tables already hold it (read without applying).
    expect(parseJournal(await readFile(`${path}.journal`, 'utf8')).map((e) => e.seq)).toStrictEqual([1]);
    expect((await store.inner.listTasks()).length).toBe(1_000);
    expect(await store.inner.getRun('run-1')).toBeDefined();
    await store.close();
  });

  it('rejects a record that does not encode before anything reaches the journal', async () => {
    const { store, path } = await journaled();
    await expect(store.write([{ kind: 'runInsert', run: run() }, { kind: 'taskInsert', task: task({ priority: 1.5 }) }])).rejects.toThrow(/priority/);
    expect(await readFile(`${path}.journal`, 'utf8')).toBe('');
    expect(await store.getRun('run-1')).toBeUndefined();
    await store.close();
  });

  it('skips and reports an entry the tables refuse; every other entry still applies', async () => {
    const dropped: Array<{ seq: number; error: string }> = [];
    const { store } = await journaled((entry, error) => dropped.push({ seq: entry.seq, error: (error as Error).message }));
    await store.write(seed);
    await store.write([{ kind: 'taskUpdate', id: 'ghost-task', patch: { state: 'running' } }]);
    await store.write([{ kind: 'taskUpdate', id: 'task-1', patch: { state: 'running' } }]);
    expect(await store.getTask('task-1')).toMatchObject({ state: 'running' });
    expect(dropped).toStrictEqual([{ seq: 2, error: expect.stringMatching(/ghost-task/) }]);
    await store.close();
  });

  it('applies what a killed process left in the journal when the database is next opened', async () => {
    const path = join(dir, `killed-${n++}`, 'drm.duckdb');
    // A process acknowledges two writes (the second changes the first), then dies before any apply.
    const script = `
      import { DuckDbStore } from ${JSON.stringify(pathToFileURL(join(process.cwd(), 'dist/src/store/duckdb.js')).href)};
      import { JournaledStore } from ${JSON.stringify(pathToFileURL(join(process.cwd(), 'dist/src/store/journal.js')).href)};
      const store = new JournaledStore(await DuckDbStore.open(${JSON.stringify(path)}), ${JSON.stringify(`${path}.journal`)}, { applyAfterMs: 3600000 });
      await store.migrate();
      const changes = ${JSON.stringify(seed)};
      await store.write(changes);
      await store.write([{ kind: 'taskUpdate', id: 'task-1', patch: { state: 'assigned', attempts: 1 } }]);
      process.stdout.write('acknowledged\\n');
      process.kill(process.pid, 'SIGKILL');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const signal = await new Promise((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    expect({ signal, out, err }).toStrictEqual({ signal: 'SIGKILL', out: 'acknowledged\n', err: '' });
    expect(parseJournal(await readFile(`${path}.journal`, 'utf8')).map((e) => e.seq)).toStrictEqual([1, 2]);

    const store = await openStore(path);
    expect(await store.getTask('task-1')).toMatchObject({ state: 'assigned', attempts: 1 });
    expect((await stat(`${path}.journal`)).size).toBe(0);
    // Numbering goes on after the recovered entries; nothing is applied twice on the next open.
    await store.write([{ kind: 'taskUpdate', id: 'task-1', patch: { state: 'running' } }]);
    await store.close();
    const again = await openStore(path);
    expect(await again.getTask('task-1')).toMatchObject({ state: 'running', attempts: 1 });
    expect((await again.listTasks()).length).toBe(1);
    await again.close();
  });

  it('reads a journal whose last line was torn by a crash as the entries before it', () => {
    const text = '1 [{"kind":"runInsert"}]\n2 [{"kind":"taskUpd';
    expect(parseJournal(text)).toStrictEqual([{ seq: 1, changes: '[{"kind":"runInsert"}]' }]);
    expect(parseJournal('')).toStrictEqual([]);
  });
});
