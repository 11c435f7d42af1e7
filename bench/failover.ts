import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { CLI_PATH } from '../src/providers/local.js';
import { median, round, type Bench } from './figures.js';

// failover_takeover_ms: two coordinator processes on the local PostgreSQL with default lease settings
// (TTL 5 s, renewed every 1 s); the leader is SIGKILLed and the follower's /readyz is polled until it leads.

const PG_URL = process.env.DRM_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function startCoordinator(url: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, 'coordinator', '--port', '0', '--db', url, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited ${code}: ${out}`)));
  });
}

async function leads(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/readyz`)).status === 200;
  } catch {
    return false;
  }
}

async function until(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const failoverBench: Bench = {
  name: 'failover',
  description: 'two coordinators on PostgreSQL: SIGKILL the leader, time until the follower leads',
  async run(ctx) {
    const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    try {
      await admin.connect();
    } catch (err) {
      ctx.log(`failover: skipped, PostgreSQL does not answer at ${PG_URL}: ${(err as Error).message}`);
      return [];
    }
    const rounds = ctx.quick ? 1 : 3;
    const samples: number[] = [];
    try {
      for (let i = 0; i < rounds; i++) {
        const schema = `drm_bench_${Date.now()}_${randomBytes(3).toString('hex')}`;
        await admin.query(`CREATE SCHEMA ${schema}`);
        const url = new URL(PG_URL);
        url.searchParams.set('options', `-c search_path=${schema}`);
        const started: ChildProcess[] = [];
        try {
          const a = await startCoordinator(url.toString());
          started.push(a.child);
          await until(() => leads(a.url), 30_000);
          const b = await startCoordinator(url.toString());
          started.push(b.child);
          await new Promise((r) => setTimeout(r, 1500)); // let the follower see the lease held
          const killedAt = Date.now();
          a.child.kill('SIGKILL');
          await until(() => leads(b.url), 30_000);
          samples.push(Date.now() - killedAt);
          ctx.log(`failover: round ${i + 1}: takeover in ${samples.at(-1)} ms`);
        } finally {
          for (const c of started) c.kill('SIGKILL');
          await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        }
      }
    } finally {
      await admin.end();
    }
    return [{ bench: 'failover_takeover_ms', value: round(median(samples)), unit: 'ms', max: Math.max(...samples), goal: '< 5000', leaseTtlMs: 5000, renewMs: 1000, rounds }];
  },
};
