import type { Coordinator } from '../coordinator/coordinator.js';
import type { TaskState } from '../schema/task.js';
import type { WorkerEvent } from './checks.js';
import type { PhaseName } from './plan.js';

// What the scenario observes while it runs: a sample of the cluster every `sampleMs` (utilization reserved and
// measured, queue depth, workers by type and state, instances being provisioned, task outcomes so far) and a log of
// what happened (phases, submissions, worker joins and losses, scaling decisions, the kill), each stamped with the
// phase it fell in. Both end up in report.json's `e2e` section; the event lines are also printed and logged.

export type ScenarioPhase = PhaseName | 'setup';

export interface E2eSample {
  /** Epoch ms. */
  at: number;
  /** Seconds since the scenario's start. */
  t: number;
  phase: ScenarioPhase;
  workers: { total: number; byType: Record<string, number>; byState: Record<string, number> };
  /** Instances requested from the provider that have not joined yet. */
  provisioning: number;
  utilization: {
    /** What placement reserved, of the declared capacity (overall: the dominant dimension). */
    reserved: { cpu: number; memory: number; gpu: number; overall: number };
    /** What the workers reported using, of the declared capacity. */
    measured: { cpu: number; memory: number; gpu: number };
  };
  queueDepth: number;
  /** Tasks assigned or running. */
  running: number;
  tasks: { submitted: number; succeeded: number; failed: number; timedOut: number; canceled: number };
}

export type E2eEventType = 'phase' | 'submit' | 'worker' | 'scaling' | 'kill' | 'check';

export interface E2eEvent {
  at: number;
  t: number;
  phase: ScenarioPhase;
  type: E2eEventType;
  message: string;
}

export interface RecorderOptions {
  coordinator: Coordinator;
  /** Instances being provisioned right now. */
  provisioning: () => number;
  sampleMs: number;
  /** Every event line as it happens (printed and logged by the runner). */
  print: (line: string) => void;
  now?: () => number;
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

export class Recorder {
  readonly samples: E2eSample[] = [];
  readonly events: E2eEvent[] = [];
  readonly workerEvents: WorkerEvent[] = [];
  phase: ScenarioPhase = 'setup';
  submitted = 0;
  /** Epoch ms the scenario's clock counts from (set when the fleet has joined). */
  startMs: number;
  private readonly taskStates = new Map<string, TaskState>();
  private readonly seenWorkers = new Set<string>();
  private offs: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly o: RecorderOptions) {
    this.now = o.now ?? Date.now;
    this.startMs = this.now();
  }

  start(): void {
    const bus = this.o.coordinator.bus;
    this.offs.push(
      bus.on('task', (e) => this.taskStates.set(e.taskId, e.state)),
      bus.on('worker', (e) => {
        this.workerEvents.push({ workerId: e.workerId, type: e.type, state: e.state, at: e.at });
        const first = e.state === 'active' && !this.seenWorkers.has(e.workerId);
        if (e.state === 'active') this.seenWorkers.add(e.workerId);
        if (first) this.note('worker', `worker ${e.workerId} (${e.type}) joined`, e.at);
        else if (e.state !== 'active') this.note('worker', `worker ${e.workerId} (${e.type}) ${e.state}`, e.at);
      }),
      bus.on('scaling', (e) => {
        if (e.action !== 'maintain') this.note('scaling', `${e.action} ${e.workerType ?? ''} x${e.count}: ${e.reason}`, e.at);
      }),
    );
    this.timer = setInterval(() => this.sample(), this.o.sampleMs);
    this.timer.unref();
    this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
    for (const off of this.offs) off();
    this.offs = [];
    this.sample();
  }

  /** Seconds since the scenario's start. */
  t(at = this.now()): number {
    return Math.round((at - this.startMs) / 100) / 10;
  }

  note(type: E2eEventType, message: string, at = this.now()): void {
    const event: E2eEvent = { at, t: this.t(at), phase: this.phase, type, message };
    this.events.push(event);
    this.o.print(`[${event.t.toFixed(1).padStart(6)} s ${this.phase.padEnd(9)}] ${message}`);
  }

  sample(): void {
    const view = this.o.coordinator.clusterView();
    const at = this.now();
    const outcome = { succeeded: 0, failed: 0, timedOut: 0, canceled: 0 };
    for (const s of this.taskStates.values()) {
      if (s === 'succeeded') outcome.succeeded++;
      else if (s === 'failed') outcome.failed++;
      else if (s === 'timed_out') outcome.timedOut++;
      else if (s === 'canceled') outcome.canceled++;
    }
    const u = view.utilization;
    const m = view.usedUtilization;
    this.samples.push({
      at,
      t: this.t(at),
      phase: this.phase,
      workers: { total: view.workers.total, byType: { ...view.workers.byType }, byState: { ...view.workers.byState } },
      provisioning: this.o.provisioning(),
      utilization: {
        reserved: { cpu: round(u.cpu), memory: round(u.memory), gpu: round(u.gpu), overall: round(u.overall) },
        measured: { cpu: round(m.cpu), memory: round(m.memory), gpu: round(m.gpu) },
      },
      queueDepth: view.queueDepth,
      running: (view.tasks.assigned ?? 0) + (view.tasks.running ?? 0),
      tasks: { submitted: this.submitted, ...outcome },
    });
  }
}
