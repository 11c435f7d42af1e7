import { describe, expect, it } from 'vitest';
import { maskedEnv, SecretEnv, secretNames } from '../../../src/coordinator/secret-env.js';

describe('SecretEnv', () => {
  const box = SecretEnv.forToken('the-api-token');

  it('seals a value so that only a key from the same token opens it, under the same name', () => {
    const sealed = box.seal('API_KEY', 'hunter22');
    expect(sealed).not.toContain('hunter22');
    expect(sealed).toMatch(/^v1\./);
    expect(box.seal('API_KEY', 'hunter22')).not.toBe(sealed); // a fresh IV each time
    expect(box.open('API_KEY', sealed)).toBe('hunter22');
    expect(SecretEnv.forToken('the-api-token').open('API_KEY', sealed)).toBe('hunter22');
    expect(SecretEnv.forToken('another-token').open('API_KEY', sealed)).toBeNull();
    // The name is authenticated: a sealed value moved to another variable does not open.
    expect(box.open('OTHER', sealed)).toBeNull();
    for (const junk of ['', 'v1.', 'v1.AAAA', 'plain', `v1.${'A'.repeat(60)}`, sealed.slice(0, -2)]) expect(box.open('API_KEY', junk)).toBeNull();
  });

  it('without a token uses a random key: durable only for this process', () => {
    const a = SecretEnv.forToken(undefined);
    const b = SecretEnv.forToken(undefined);
    expect(a.durable).toBe(false);
    expect(box.durable).toBe(true);
    expect(b.open('K', a.seal('K', 'v'))).toBeNull();
    expect(a.open('K', a.seal('K', 'v'))).toBe('v');
  });

  it('stores secrets beside plain variables, hands them to the worker apart, and shows them masked', () => {
    const stored = box.toStored({ PLAIN: 'p' }, { API_KEY: 'hunter22', EMPTY: '' });
    expect(Object.keys(stored).sort()).toEqual(['PLAIN', 'secret:API_KEY', 'secret:EMPTY']);
    expect(JSON.stringify(stored)).not.toContain('hunter22');
    expect(secretNames(stored).sort()).toEqual(['API_KEY', 'EMPTY']);
    expect(box.forWorker(stored)).toEqual({ env: { PLAIN: 'p' }, secretEnv: { API_KEY: 'hunter22', EMPTY: '' } });
    expect(maskedEnv(stored)).toEqual({ PLAIN: 'p', API_KEY: '***', EMPTY: '***' });
    expect(box.unopenable(stored)).toEqual([]);
    expect(SecretEnv.forToken('another-token').unopenable(stored).sort()).toEqual(['API_KEY', 'EMPTY']);
    expect(box.toStored({ A: 'a' }, undefined)).toEqual({ A: 'a' });
    expect(box.forWorker({ A: 'a' })).toEqual({ env: { A: 'a' } });
  });
});
