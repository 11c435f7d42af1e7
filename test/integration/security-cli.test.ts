import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drm, drmDaemon } from '../helpers/cli.js';

// The security flags of the real CLI (`npm run build` first): the loopback rule, token files, and TLS
// with a private CA for the coordinator, a worker over wss:// and the API commands over https://.

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drm-security-cli-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

function stop(child: import('node:child_process').ChildProcess): Promise<unknown> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  return exited;
}

describe('drm coordinator beyond loopback', () => {
  it('refuses to start without a token: one line, exit 2, nothing opened', async () => {
    const db = join(dir, 'refused.duckdb');
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'example.internal']) {
      const res = await drm(['coordinator', '--host', host, '--port', '0', '--db', db], { env: { DRM_TOKEN: '', DRM_WORKER_TOKEN: '' } });
      expect(res.code, host).toBe(2);
      expect(res.stderr.trim().split('\n'), host).toHaveLength(1);
      expect(res.stderr).toMatch(/is not a loopback address.*--insecure/);
    }
    // A worker token alone would leave the API open: still refused.
    const workerOnly = await drm(['coordinator', '--host', '0.0.0.0', '--port', '0', '--db', db], { env: { DRM_WORKER_TOKEN: 'w' } });
    expect(workerOnly.code).toBe(2);
    expect(existsSync(db)).toBe(false);
  });

  it('starts with --insecure, or with a token from a file', async () => {
    const insecure = await drmDaemon(['coordinator', '--host', '0.0.0.0', '--port', '0', '--db', join(dir, 'insecure.duckdb'), '--insecure', '--log-level', 'warn'], /listening on (http:\/\/\S+)/);
    await stop(insecure.child);
    const tokenFile = join(dir, 'admin.token');
    await writeFile(tokenFile, '  file-token-123\n');
    const withToken = await drmDaemon(['coordinator', '--host', '0.0.0.0', '--port', '0', '--db', join(dir, 'file-token.duckdb'), '--token-file', tokenFile, '--log-level', 'warn'], /listening on (http:\/\/\S+)/);
    try {
      const url = withToken.match[1];
      const ok = await drm(['status', '--coordinator', url, '--token-file', tokenFile, '--json']);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stderr).toBe('');
      const refused = await drm(['status', '--coordinator', url], { env: { DRM_TOKEN: 'wrong' } });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/401 unauthorized/);
    } finally {
      await stop(withToken.child);
    }
  });

  it('refuses missing or empty token files, and a token given both ways, with exit 2', async () => {
    const empty = join(dir, 'empty.token');
    await writeFile(empty, '\n  \n');
    const cases: Array<[string[], RegExp]> = [
      [['coordinator', '--token-file', join(dir, 'nope.token')], /--token-file .*nope\.token: no such file/],
      [['coordinator', '--worker-token-file', empty], /--worker-token-file .*empty\.token: the file is empty/],
      [['status', '--token', 'x', '--token-file', empty], /--token and --token-file are mutually exclusive/],
      [['worker', '--token-file', empty], /--token-file .*: the file is empty/],
      [['coordinator', '--tls-cert', join(dir, 'only-cert.pem')], /--tls-cert and --tls-key go together/],
      [['status', '--ca-file', join(dir, 'nope.pem')], /--ca-file .*nope\.pem: no such file/],
    ];
    for (const [args, pattern] of cases) {
      const res = await drm([...args, ...(args[0] === 'coordinator' ? ['--db', join(dir, 'never.duckdb')] : [])]);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr, args.join(' ')).toMatch(pattern);
    }
    expect(existsSync(join(dir, 'never.duckdb'))).toBe(false);
  });
});

describe('TLS with a private CA', () => {
  let pki: { ca: string; cert: string; key: string };

  beforeAll(() => {
    const p = (name: string) => join(dir, name);
    const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=drm test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1']);
    execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ${p('server.ext')}`]);
    openssl(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('server.ext')]);
    pki = { ca: p('ca.pem'), cert: p('server.pem'), key: p('server.key') };
  });

  it('runs a task: coordinator over HTTPS, a worker over wss:// trusting the CA, submit --wait over HTTPS', async () => {
    const adminFile = join(dir, 'tls-admin.token');
    const workerFile = join(dir, 'tls-worker.token');
    await writeFile(adminFile, 'tls-admin-token\n');
    await writeFile(workerFile, 'tls-worker-token\n');
    const coordinator = await drmDaemon(
      ['coordinator', '--port', '0', '--db', join(dir, 'tls.duckdb'), '--tls-cert', pki.cert, '--tls-key', pki.key, '--token-file', adminFile, '--worker-token-file', workerFile, '--log-level', 'warn'],
      /listening on (https:\/\/\S+)/,
    );
    const url = coordinator.match[1];
    let worker: Awaited<ReturnType<typeof drmDaemon>> | undefined;
    try {
      worker = await drmDaemon(['worker', '--coordinator', url, '--ca-file', pki.ca, '--token-file', workerFile, '--type', 'cpu', '--resources', 'cpu=2,memoryMb=2048', '--id', 'tls-worker', '--log-level', 'info'], /connected to coordinator/);
      const suite = join(dir, 'tls-suite.yaml');
      await writeFile(suite, 'name: over-tls\ntasks:\n  - name: hello\n    command: [node, -e, "console.log(process.env.SECRET_NAME.length)"]\n    secretEnv: [SECRET_NAME]\n    resources: { cpu: 1, memoryMb: 128 }\n');
      const submitted = await drm(['submit', suite, '--coordinator', url, '--ca-file', pki.ca, '--token-file', adminFile, '--wait'], { env: { SECRET_NAME: 'from-the-environment' } });
      expect(submitted.code, submitted.stdout + submitted.stderr).toBe(0);
      expect(submitted.stdout).toMatch(/run \S+ succeeded/);
      const status = await drm(['status', '--coordinator', url, '--ca-file', pki.ca, '--token-file', adminFile, '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).workers.map((w: any) => w.id)).toContain('tls-worker');
      // Without the CA the certificate is not trusted; plain http:// gets no answer from a TLS port.
      const untrusted = await drm(['status', '--coordinator', url, '--token-file', adminFile]);
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(/cannot reach the coordinator.*(certificate|self-signed|issuer)/i);
    } finally {
      if (worker) await stop(worker.child);
      await stop(coordinator.child);
    }
  });

  it('a suite whose secretEnv names an unset variable exits 2 naming it, before anything is sent', async () => {
    const suite = join(dir, 'unset-secret.yaml');
    await writeFile(suite, 'name: unset\ntasks:\n  - name: needs-it\n    command: [node, -e, ""]\n    secretEnv: [DRM_TEST_NOT_SET_ANYWHERE]\n');
    const res = await drm(['submit', suite, '--coordinator', 'http://127.0.0.1:9']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unset-secret\.yaml:5: task "needs-it": field "secretEnv\[0\]": environment variable DRM_TEST_NOT_SET_ANYWHERE is not set/);
  });
});
