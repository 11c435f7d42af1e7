import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackHost, readTlsFiles, readTokenFile, requireTokenBeyondLoopback, trustedCertificates } from '../../../src/cli/credentials.js';
import { UsageError } from '../../../src/cli/usage-error.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drm-credentials-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('the loopback rule', () => {
  it('knows which hosts serve this machine only', () => {
    for (const h of ['127.0.0.1', '127.8.9.10', 'localhost', 'LOCALHOST', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '[::]', '10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', 'example.com', 'localhost.example.com', '128.0.0.1', '']) expect(isLoopbackHost(h), h).toBe(false);
  });

  it('refuses a coordinator beyond loopback without a token unless insecure', () => {
    expect(() => requireTokenBeyondLoopback({ host: '0.0.0.0' })).toThrow(UsageError);
    expect(() => requireTokenBeyondLoopback({ host: '0.0.0.0' })).toThrow(/--host 0\.0\.0\.0 is not a loopback address.*--insecure/);
    expect(() => requireTokenBeyondLoopback({ host: '0.0.0.0', token: 't' })).not.toThrow();
    expect(() => requireTokenBeyondLoopback({ host: '0.0.0.0', insecure: true })).not.toThrow();
    expect(() => requireTokenBeyondLoopback({ host: '127.0.0.1' })).not.toThrow();
  });
});

describe('token, certificate and CA files', () => {
  it('reads a token trimmed, and names the flag and the problem otherwise', async () => {
    await writeFile(join(dir, 'ok'), '  tok-123 \n');
    await writeFile(join(dir, 'empty'), ' \n\t\n');
    await writeFile(join(dir, 'two'), 'a\nb\n');
    expect(await readTokenFile(join(dir, 'ok'), '--token-file')).toBe('tok-123');
    await expect(readTokenFile(join(dir, 'empty'), '--token-file')).rejects.toThrow(/--token-file .*empty: the file is empty/);
    await expect(readTokenFile(join(dir, 'two'), '--token-file')).rejects.toThrow(/expected one line/);
    await expect(readTokenFile(join(dir, 'missing'), '--worker-token-file')).rejects.toThrow(/--worker-token-file .*missing: no such file/);
    await expect(readTokenFile(dir, '--token-file')).rejects.toThrow(/is a directory/);
  });

  it('wants --tls-cert and --tls-key together, as PEM; adds a CA file to the system roots', async () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    await writeFile(join(dir, 'c.pem'), pem);
    await writeFile(join(dir, 'not.pem'), 'hello');
    expect(await readTlsFiles(undefined, undefined)).toBeUndefined();
    await expect(readTlsFiles(join(dir, 'c.pem'), undefined)).rejects.toThrow(/go together/);
    await expect(readTlsFiles(join(dir, 'not.pem'), join(dir, 'c.pem'))).rejects.toThrow(/--tls-cert .*not a PEM file/);
    expect(await readTlsFiles(join(dir, 'c.pem'), join(dir, 'c.pem'))).toEqual({ cert: pem, key: pem });
    expect(await trustedCertificates(undefined)).toBeUndefined();
    const trusted = (await trustedCertificates(join(dir, 'c.pem')))!;
    expect(trusted.at(-1)).toBe(pem);
    expect(trusted.length).toBeGreaterThan(10);
  });
});
