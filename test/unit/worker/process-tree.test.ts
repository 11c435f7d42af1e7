import { describe, expect, it } from 'vitest';
import {
  parseProcStat,
  parsePsOutput,
  parsePsTime,
  sampleTree,
  treeMembers,
  TreeUsageTracker,
  type ProcInfo,
  type ProcessTable,
} from '../../../src/worker/process-tree.js';

function proc(pid: number, ppid: number, cpuSeconds: number, extra: Partial<ProcInfo> = {}): ProcInfo {
  return { pid, ppid, pgid: 1, state: 'S', cpuSeconds, reapedCpuSeconds: 0, startTime: pid * 10, rssMb: 10, ...extra };
}

function table(...procs: ProcInfo[]): ProcessTable {
  return new Map(procs.map((p) => [p.pid, p]));
}

describe('parseProcStat', () => {
  it('reads fields after a command name containing spaces and parentheses', () => {
    const fields = ['S', '42', '100', '100', '0', '-1', '4194560', '0', '0', '0', '0', '150', '50', '30', '20', '20', '0', '1', '0', '777', '123456', '2560'];
    const info = parseProcStat(`101 (my (weird) cmd) ${fields.join(' ')} 0 0 0\n`, 100, 4096);
    expect(info).toEqual({
      pid: 101,
      state: 'S',
      ppid: 42,
      pgid: 100,
      cpuSeconds: 2,
      reapedCpuSeconds: 0.5,
      startTime: 777,
      rssMb: 10,
    });
  });

  it('rejects truncated text', () => {
    expect(parseProcStat('12 (x) S 1')).toBeUndefined();
    expect(parseProcStat('garbage')).toBeUndefined();
  });
});

describe('ps fallback parsing', () => {
  it('parses cpu time formats', () => {
    expect(parsePsTime('00:01')).toBe(1);
    expect(parsePsTime('01:02:03')).toBe(3723);
    expect(parsePsTime('2-00:00:01')).toBe(2 * 86400 + 1);
  });

  it('parses ps rows (rss in KiB)', () => {
    const t = parsePsOutput('  10     1    10  2048 00:00:05\n  11    10    10  1024 00:01:00\n');
    expect(t.get(11)).toMatchObject({ pid: 11, ppid: 10, pgid: 10, rssMb: 1, cpuSeconds: 60 });
  });
});

describe('treeMembers', () => {
  it('finds descendants by parent and orphans by process group', () => {
    const t = table(
      proc(1, 0, 0),
      proc(10, 1, 0, { pgid: 10 }),
      proc(11, 10, 0, { pgid: 10 }),
      proc(12, 11, 0, { pgid: 12 }), // setsid grandchild, still a descendant
      proc(13, 1, 0, { pgid: 10 }), // orphan reparented to init, still in the group
      proc(20, 1, 0, { pgid: 20 }), // unrelated
    );
    expect(treeMembers(t, 10).sort((a, b) => a - b)).toEqual([10, 11, 12, 13]);
    expect(treeMembers(t, 99)).toEqual([]);
  });
});

describe('TreeUsageTracker', () => {
  it('sums memory of live members and keeps the peak', () => {
    const tr = new TreeUsageTracker(10);
    expect(tr.update(table(proc(10, 1, 0, { rssMb: 50 }), proc(11, 10, 0, { rssMb: 100 }))).memoryMb).toBe(150);
    expect(tr.update(table(proc(10, 1, 0, { rssMb: 50 }))).memoryMb).toBe(50);
    expect(tr.peakMemoryMb).toBe(150);
  });

  it('counts a child reaped by a live parent once, through the parent cutime', () => {
    const tr = new TreeUsageTracker(10);
    tr.update(table(proc(10, 1, 1), proc(11, 10, 2)));
    // 11 exited with 2.5 s and 10 reaped it: its final time shows in 10's reaped time.
    const s = tr.update(table(proc(10, 1, 1.2, { reapedCpuSeconds: 2.5 })));
    expect(s.cpuSeconds).toBeCloseTo(3.7);
  });

  it('keeps the cpu of a member whose parent is gone too', () => {
    const tr = new TreeUsageTracker(10);
    // 11 is an orphan kept in the tree by its process group; 12 is its child.
    tr.update(table(proc(10, 1, 1), proc(11, 1, 1, { pgid: 10 }), proc(12, 11, 2, { pgid: 10 })));
    // 11 and 12 are gone and no tree member is left that could have reaped them.
    const s = tr.update(table(proc(10, 1, 1)));
    expect(s.cpuSeconds).toBeCloseTo(4);
  });

  it('treats a reused pid as a new process', () => {
    const tr = new TreeUsageTracker(10);
    tr.update(table(proc(10, 1, 1), proc(11, 1, 3, { pgid: 10, startTime: 5 })));
    const s = tr.update(table(proc(10, 1, 1), proc(11, 1, 0.5, { pgid: 10, startTime: 9 })));
    expect(s.cpuSeconds).toBeCloseTo(4.5);
  });

  it('never reports less cpu than before', () => {
    const tr = new TreeUsageTracker(10);
    tr.update(table(proc(10, 1, 2)));
    expect(tr.update(table()).cpuSeconds).toBe(2);
  });
});

describe('sampleTree', () => {
  it.runIf(process.platform === 'linux')('samples this process from /proc', async () => {
    const s = await sampleTree(process.pid);
    expect(s.pids).toContain(process.pid);
    expect(s.memoryMb).toBeGreaterThan(10);
    expect(s.cpuSeconds).toBeGreaterThan(0);
  });
});
