import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { WorkerMessageSchema } from '../../src/schema/protocol.js';
import { TestCluster } from '../helpers/cluster.js';
import { ProtocolWorker } from '../helpers/protocol-worker.js';
import { junk, nastyNumber, nastyString } from './arbitraries.js';

// Property: over a real WebSocket to a real coordinator, every frame the protocol does not allow (not JSON,
// not a message, a message out of order, binary) closes that one connection with 4002 and a reason, never
// crashes the coordinator, and changes nothing stored; a well-formed message that claims another worker's
// attempt is refused without effect.

const TOKEN = 'fuzz-worker-token';
const CLOSE_BAD_MESSAGE = 4002;

const templates = {
  hello: () => ({ type: 'hello', workerId: 'fuzz-w', workerType: 'fuzz', resources: { cpu: 1, memoryMb: 512 }, labels: {}, provider: 'fuzz', running: [] }),
  heartbeat: () => ({ type: 'heartbeat', usage: { cpu: 0.5, memoryMb: 10 } }),
  started: () => ({ type: 'started', attemptId: 'att_x', pid: 123 }),
  result: () => ({ type: 'result', attemptId: 'att_x', status: 'succeeded', exitCode: 0, durationMs: 1, usage: { peakMemoryMb: 1, cpuSeconds: 0 }, stdoutTail: '', stderrTail: '' }),
};
type Kind = keyof typeof templates;

/** A message with one or two fields broken: removed, replaced by junk, or an unknown one added (at any depth). */
const mutatedMessage = fc
  .tuple(
    fc.constantFrom<Kind>('hello', 'heartbeat', 'started', 'result'),
    fc.array(fc.tuple(fc.constantFrom('delete', 'replace', 'add'), fc.nat(), fc.oneof(junk, nastyNumber, nastyString)), { minLength: 1, maxLength: 2 }),
  )
  .map(([kind, edits]) => {
    const msg: any = templates[kind]();
    for (const [op, pick, value] of edits) {
      // Pick a field among the top level and one level down (resources, usage).
      const paths: string[][] = [];
      for (const [k, v] of Object.entries(msg)) {
        paths.push([k]);
        if (v && typeof v === 'object' && !Array.isArray(v)) for (const kk of Object.keys(v)) paths.push([k, kk]);
      }
      const path = paths[pick % paths.length];
      const parent = path.length === 1 ? msg : msg[path[0]];
      const key = path[path.length - 1];
      if (op === 'delete') delete parent[key];
      else if (op === 'replace') parent[key] = value;
      else parent[`x${pick % 5}`] = value;
    }
    return JSON.stringify(msg);
  });

type Frame = { text?: string; binary?: Buffer };

/** Frames of every shape, valid ones included (the tests keep only those the protocol forbids at that point). */
const frame: fc.Arbitrary<Frame> = fc.oneof<fc.MaybeWeightedArbitrary<Frame>[]>(
  { weight: 4, arbitrary: mutatedMessage.map((text) => ({ text })) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v) })) },
  { weight: 2, arbitrary: fc.string({ maxLength: 80 }).map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', 'null', '[]', '{"type":"hello"}', '{"type":"__proto__"}', '{"type":"constructor"}', '{"type":"result","__proto__":{"attemptId":"x"}}').map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.constantFrom<Kind>('heartbeat', 'started', 'result', 'hello').map((k) => ({ text: JSON.stringify(templates[k]()) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((bytes) => ({ binary: Buffer.from(bytes) })) },
);

/** Whether the protocol forbids this frame at this point of a connection (before or after its hello). */
function forbidden(f: Frame, afterHello: boolean): boolean {
  if (f.binary) return true;
  let json: unknown;
  try {
    json = JSON.parse(f.text!);
  } catch {
    return true;
  }
  const parsed = WorkerMessageSchema.safeParse(json);
  if (!parsed.success) return true;
  return afterHello ? parsed.data.type === 'hello' : parsed.data.type !== 'hello';
}

describe('worker protocol fuzz', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let honest: ProtocolWorker;
  let victim: { taskId: string; attemptId: string; runId: string };

  // What no rejected frame may change.
  const snapshot = async () => {
    const task = (await cluster.store.getTask(victim.taskId))!;
    const attempts = await cluster.store.listAttempts(victim.taskId);
    return {
      seq: await cluster.store.maxTaskSeq(),
      task: { state: task.state, currentAttemptId: task.currentAttemptId, stdoutTail: task.stdoutTail },
      attempts: attempts.map((a) => ({ id: a.id, state: a.state, pid: a.pid, workerId: a.workerId })),
      workers: (await cluster.store.listWorkers()).map((w) => w.id).sort(),
    };
  };

  beforeAll(async () => {
    // Nobody is declared lost during the run: a worker that goes quiet is not the fuzz's doing.
    cluster = await TestCluster.start({ token: TOKEN, settings: { heartbeatTimeoutMs: 600_000, reconnectGraceMs: 600_000 } });
    honest = await ProtocolWorker.join(cluster.url, TOKEN, 'honest', { cpu: 2, memoryMb: 2048 });
    const { body } = await cluster.api('POST', '/api/v1/tasks', { tasks: [{ name: 'victim', command: ['true'], resources: { cpu: 1, memoryMb: 256 } }] }, { authorization: `Bearer ${TOKEN}` });
    const assign = await honest.next('assign', (m) => m.task.taskId === body.taskIds[0]);
    victim = { taskId: body.taskIds[0], attemptId: assign.attemptId, runId: body.runId };
    // The fuzz worker's row exists from the start, so that a refused frame cannot be what created it.
    (await ProtocolWorker.join(cluster.url, TOKEN, 'fuzz-w')).close();
    await cluster.server.coordinator.idle();
  });
  afterAll(async () => {
    honest?.close();
    await cluster?.stop();
  });

  it('closes the connection with 4002 and a reason on every forbidden frame; nothing stored changes', async () => {
    const initial = await snapshot();
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(frame, fc.boolean(), async (f, afterHello) => {
        fc.pre(forbidden(f, afterHello));
        cases++;
        const w = afterHello ? await ProtocolWorker.join(cluster.url, TOKEN, 'fuzz-w') : await ProtocolWorker.connect(cluster.url, TOKEN);
        if (f.binary) w.ws.send(f.binary, { binary: true });
        else w.send(f.text!);
        const { code, reason } = await w.closed;
        const what = `${afterHello ? 'after' : 'before'} hello: ${f.text ?? f.binary!.toString('hex')}`;
        expect(code, what).toBe(CLOSE_BAD_MESSAGE);
        expect(reason.length, what).toBeGreaterThan(0);
        expect(Buffer.byteLength(reason), what).toBeLessThanOrEqual(123);
      }),
      { numRuns: 1000 },
    );
    expect(cases).toBeGreaterThan(700);
    await cluster.server.coordinator.idle();
    expect(await snapshot()).toEqual(initial);
    expect((await cluster.api('GET', '/healthz')).status).toBe(200);
    expect(honest.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('refuses well-formed started and result messages for attempts that are not the sender\'s, without effect', async () => {
    const initial = await snapshot();
    let refused = 0;
    const off = cluster.server.coordinator.bus.on('resultRefused', () => refused++);
    const w = await ProtocolWorker.join(cluster.url, TOKEN, 'fuzz-w');
    let results = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              kind: fc.constantFrom('started', 'result'),
              attemptId: fc.oneof(fc.constant(victim.attemptId), fc.string({ minLength: 1, maxLength: 30 })),
              status: fc.constantFrom('succeeded', 'failed', 'timed_out', 'canceled'),
              exitCode: fc.oneof(fc.constant(null), fc.integer({ min: -255, max: 255 })),
              pid: fc.integer({ min: 1, max: 4_000_000 }),
              tail: fc.string({ maxLength: 40 }),
            }),
            { minLength: 1, maxLength: 4 },
          ),
          async (msgs) => {
            for (const m of msgs) {
              if (m.kind === 'started') w.send({ type: 'started', attemptId: m.attemptId, pid: m.pid });
              else {
                results++;
                w.send({ type: 'result', attemptId: m.attemptId, status: m.status, exitCode: m.exitCode, durationMs: 1, usage: { peakMemoryMb: 1, cpuSeconds: 0 }, stdoutTail: m.tail, stderrTail: '' });
              }
            }
            // A pong comes after everything the coordinator sent before it: no close, no ack.
            await new Promise<void>((resolve) => {
              w.ws.once('pong', () => resolve());
              w.ws.ping();
            });
            expect(w.ws.readyState).toBe(WebSocket.OPEN);
          },
        ),
        { numRuns: 300 },
      );
      await cluster.server.coordinator.idle();
      await new Promise((r) => setTimeout(r, 100));
      expect(w.received.filter((m) => m.type === 'ack')).toEqual([]);
      expect(refused).toBeGreaterThan(0);
      expect(refused).toBeLessThanOrEqual(results);
      expect(await snapshot()).toEqual(initial);
    } finally {
      off();
      w.close();
    }
  });
});
