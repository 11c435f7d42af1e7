import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { AssignedTask } from '../schema/protocol.js';
import type { AttemptStatus } from '../schema/task.js';
import { maskResult } from './mask.js';
import { readProcessTable, TreeUsageTracker, type TreeSample } from './process-tree.js';

// Runs one attempt of a task in its own process group, samples the group's usage, enforces the timeout
// and always settles with a result (never throws), so the agent can report every attempt.

export interface TaskAssignment {
  attemptId: string;
  task: AssignedTask;
  gpuIndices: number[];
}

export interface ResultFields {
  status: AttemptStatus;
  /** null when the process was ended by a signal or never started. */
  exitCode: number | null;
  durationMs: number;
  usage: { peakMemoryMb: number; cpuSeconds: number };
  stdoutTail: string;
  stderrTail: string;
  reason?: string;
}

export interface ExecutorOptions {
  /** Between SIGTERM and SIGKILL to the process group on timeout or cancel. Default 2000. */
  killGraceMs?: number;
  /** How often the process tree is sampled. Default 250. */
  sampleIntervalMs?: number;
  /** Bytes of stdout and of stderr kept (the end of each). Default 8192. */
  tailBytes?: number;
  /** What a relative task cwd is resolved against. Default process.cwd(). */
  baseCwd?: string;
  /** The environment the task's env is layered on. Default process.env. */
  baseEnv?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface TaskHandle {
  /** undefined when the command could not be spawned. */
  readonly pid: number | undefined;
  /** Kills the whole process group (SIGTERM, SIGKILL after the grace); the result becomes `canceled`. */
  cancel(reason?: string): void;
  /** The latest usage sample of the process tree. */
  latestUsage(): TreeSample | undefined;
}

export interface RunningTask {
  handle: TaskHandle;
  result: Promise<ResultFields>;
}

export const EXECUTOR_DEFAULTS = { killGraceMs: 2000, sampleIntervalMs: 250, tailBytes: 8192 } as const;

/** How long to wait for stdout/stderr to close after the main process exited (a process outside the group may hold them). */
const STREAM_CLOSE_WAIT_MS = 1000;

/** Keeps the last `limit` bytes written to it without buffering the rest. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0].length >= this.limit) this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    let buf = Buffer.concat(this.chunks);
    if (buf.length > this.limit) buf = buf.subarray(buf.length - this.limit);
    // Don't start in the middle of a UTF-8 sequence (continuation bytes are 10xxxxxx).
    let start = 0;
    while (start < buf.length && start < 4 && (buf[start] & 0xc0) === 0x80) start++;
    return buf.subarray(start).toString('utf8');
  }
}

/** The worker's own credentials: a task never inherits them (it could print them into its output). */
const WORKER_SECRETS = ['DRM_TOKEN', 'DRM_WORKER_TOKEN'];

/** The task's environment: the worker's (less its tokens), the task's, its secrets, and CUDA_VISIBLE_DEVICES naming exactly the GPUs given. */
export function taskEnv(base: NodeJS.ProcessEnv, task: AssignedTask, gpuIndices: number[], attemptId: string): NodeJS.ProcessEnv {
  const inherited: NodeJS.ProcessEnv = { ...base };
  for (const name of WORKER_SECRETS) delete inherited[name];
  const env: NodeJS.ProcessEnv = { ...inherited, ...task.env, ...task.secretEnv };
  // A task may name its outputs after its attempt (results of a retry must not clobber the first try).
  env.DRM_TASK_ID = task.taskId;
  env.DRM_ATTEMPT_ID = attemptId;
  // An empty list hides every GPU from CUDA; leaving the variable unset would expose all of them.
  env.CUDA_VISIBLE_DEVICES = gpuIndices.join(',');
  return env;
}

function signalGroup(pid: number, signal: NodeJS.Signals, extraPids: readonly number[] = []): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
  // Members that left the group (setsid) but were seen in the tree.
  for (const p of extraPids) {
    if (p === pid) continue;
    try {
      process.kill(p, signal);
    } catch {
      // Already gone.
    }
  }
}

/**
 * SIGKILL for a group whose leader is gone, only while the group still has members: an empty group's id is
 * a free pid again, and a signal to it could reach an unrelated process group that reused it.
 */
async function killGroupIfPresent(pgid: number): Promise<void> {
  try {
    const table = await readProcessTable();
    for (const p of table.values()) {
      if (p.pgid === pgid) {
        signalGroup(pgid, 'SIGKILL');
        return;
      }
    }
  } catch {
    // Without a process table, leave the SIGTERM already sent as the last word.
  }
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Starts one attempt. The result promise always resolves, also when the command cannot be spawned; the
 * values of the task's secret env are masked in its output.
 */
export function runTask(assignment: TaskAssignment, opts: ExecutorOptions = {}): RunningTask {
  const running = startTask(assignment, opts);
  const secrets = Object.values(assignment.task.secretEnv ?? {});
  return secrets.length === 0 ? running : { handle: running.handle, result: running.result.then((r) => maskResult(r, secrets)) };
}

function startTask(assignment: TaskAssignment, opts: ExecutorOptions): RunningTask {
  const { attemptId, task, gpuIndices } = assignment;
  const killGraceMs = opts.killGraceMs ?? EXECUTOR_DEFAULTS.killGraceMs;
  const sampleIntervalMs = opts.sampleIntervalMs ?? EXECUTOR_DEFAULTS.sampleIntervalMs;
  const tailBytes = opts.tailBytes ?? EXECUTOR_DEFAULTS.tailBytes;
  const log = opts.logger?.child({ taskId: task.taskId, attemptId });
  const started = performance.now();
  const stdout = new Tail(tailBytes);
  const stderr = new Tail(tailBytes);

  const failed = (reason: string): RunningTask => {
    log?.warn({ reason }, 'task could not start');
    const result: ResultFields = {
      status: 'failed',
      exitCode: null,
      durationMs: round(performance.now() - started),
      usage: { peakMemoryMb: 0, cpuSeconds: 0 },
      stdoutTail: '',
      stderrTail: '',
      reason,
    };
    return { handle: { pid: undefined, cancel: () => {}, latestUsage: () => undefined }, result: Promise.resolve(result) };
  };

  const cwd = resolve(opts.baseCwd ?? process.cwd(), task.cwd ?? '.');
  try {
    if (!statSync(cwd).isDirectory()) return failed(`cwd is not a directory: ${cwd}`);
  } catch {
    // Checked here because spawn reports a missing cwd as ENOENT of the command.
    return failed(`cwd does not exist: ${cwd}`);
  }

  let child: ChildProcess;
  try {
    child = spawn(task.command[0], task.command.slice(1), {
      cwd,
      env: taskEnv(opts.baseEnv ?? process.env, task, gpuIndices, assignment.attemptId),
      // Leads its own process group, so a timeout or cancel can kill everything it started.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    return failed(`spawn failed: ${(err as Error).message}`);
  }
  const pid = child.pid;
  if (pid === undefined) {
    // spawn reports ENOENT/EACCES asynchronously through 'error'; don't leave it unhandled.
    const result = new Promise<ResultFields>((resolveResult) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        const reason = `spawn failed: ${err.code ?? err.message} ${err.path ?? task.command[0]}`;
        log?.warn({ reason }, 'task could not start');
        resolveResult({
          status: 'failed',
          exitCode: null,
          durationMs: round(performance.now() - started),
          usage: { peakMemoryMb: 0, cpuSeconds: 0 },
          stdoutTail: '',
          stderrTail: '',
          reason,
        });
      });
    });
    return { handle: { pid: undefined, cancel: () => {}, latestUsage: () => undefined }, result };
  }

  log?.info({ pid, command: task.command, cwd, gpuIndices }, 'task started');
  child.stdout!.on('data', (c: Buffer) => stdout.push(c));
  child.stderr!.on('data', (c: Buffer) => stderr.push(c));
  child.on('error', (err) => log?.warn({ err }, 'child process error'));

  const tracker = new TreeUsageTracker(pid);
  let exited = false;
  let killed: { status: 'timed_out' | 'canceled'; reason: string } | undefined;
  let graceTimer: NodeJS.Timeout | undefined;

  let sampling = false;
  const sample = async () => {
    if (sampling || exited) return;
    sampling = true;
    try {
      await tracker.sample();
    } catch (err) {
      log?.debug({ err }, 'usage sample failed');
    } finally {
      sampling = false;
    }
  };
  void sample();
  const sampleTimer = setInterval(() => void sample(), sampleIntervalMs);

  const kill = (status: 'timed_out' | 'canceled', reason: string) => {
    if (exited || killed) return;
    killed = { status, reason };
    log?.info({ pid, reason }, 'killing task process group');
    signalGroup(pid, 'SIGTERM', tracker.latest?.pids);
    graceTimer = setTimeout(() => signalGroup(pid, 'SIGKILL', tracker.latest?.pids), killGraceMs);
  };

  const timeoutTimer = setTimeout(
    () => kill('timed_out', `timed out after ${task.timeoutSec}s (process group killed)`),
    task.timeoutSec * 1000,
  );

  const result = new Promise<ResultFields>((resolveResult) => {
    child.once('exit', (code, signal) => {
      exited = true;
      const durationMs = round(performance.now() - started);
      clearInterval(sampleTimer);
      clearTimeout(timeoutTimer);
      clearTimeout(graceTimer);
      const leftovers = tracker.latest?.pids ?? [];
      if (killed) {
        // The leader is gone; whatever it left in the group gets no further grace.
        signalGroup(pid, 'SIGKILL', leftovers);
      } else {
        // A finished task must not leave processes behind holding resources it no longer reserves.
        signalGroup(pid, 'SIGTERM', leftovers);
        setTimeout(() => void killGroupIfPresent(pid), killGraceMs).unref();
      }

      const finish = () => {
        const usage = {
          peakMemoryMb: round(tracker.peakMemoryMb, 1),
          cpuSeconds: round(tracker.latest?.cpuSeconds ?? 0),
        };
        let status: AttemptStatus;
        let reason: string | undefined;
        if (killed) {
          status = killed.status;
          reason = killed.reason;
        } else if (code === 0) {
          status = 'succeeded';
        } else {
          status = 'failed';
          reason = code !== null ? `exited with code ${code}` : `killed by signal ${signal}`;
        }
        const fields: ResultFields = {
          status,
          exitCode: code,
          durationMs,
          usage,
          stdoutTail: stdout.text(),
          stderrTail: stderr.text(),
        };
        if (reason) fields.reason = reason;
        log?.info({ status, exitCode: code, signal, durationMs, ...usage }, 'task finished');
        resolveResult(fields);
      };

      // Output still in the pipes arrives before 'close'; a process that escaped the group may hold them open.
      let done = false;
      const closeWait = setTimeout(() => {
        if (done) return;
        done = true;
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, STREAM_CLOSE_WAIT_MS);
      const onClose = () => {
        if (done) return;
        done = true;
        clearTimeout(closeWait);
        finish();
      };
      if (child.stdout?.closed && child.stderr?.closed) onClose();
      else child.once('close', onClose);
    });
  });

  return {
    handle: {
      pid,
      cancel: (reason?: string) => kill('canceled', `canceled: ${reason ?? 'requested'}`),
      latestUsage: () => tracker.latest,
    },
    result,
  };
}
