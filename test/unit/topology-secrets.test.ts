/**
 * The secrets layout of lib/grants.ts against the functions of lib/topology.ts: each key in exactly one group,
 * each group read by exactly the same functions (so a function reading a group reads no key it does not use),
 * and no two groups read by the same functions (so there are no more secrets, at $0.40 a month each, than that needs).
 */
import { describe, expect, it } from 'vitest';
import { everyFunctionReads, type FunctionSpec, functions, type SecretKey, secretGroups, secretKeys, secretKeysOf } from '../../lib/topology.ts';

const readers = (key: SecretKey) =>
  (Object.entries(functions) as [string, FunctionSpec][])
    .filter(([, spec]) => secretKeysOf(spec).includes(key))
    .map(([name]) => name)
    .join(',');

describe('the secret groups', () => {
  it('hold every secret key exactly once', () => {
    const grouped = Object.values(secretGroups).flat();
    expect([...grouped].sort()).toEqual([...secretKeys].sort());
  });

  it('each hold keys read by exactly the same functions', () => {
    for (const [group, keys] of Object.entries(secretGroups)) {
      expect(new Set(keys.map(readers)).size, `group ${group}`).toBe(1);
    }
  });

  it('are no more than least privilege needs: no two groups read by the same functions', () => {
    const readerSets = Object.values(secretGroups).map((keys) => readers(keys[0]!));
    expect(new Set(readerSets).size).toBe(readerSets.length);
  });

  it('every function reads the pseudonym key', () => {
    expect(everyFunctionReads).toEqual(['PSEUDONYM_KEY']);
    for (const spec of Object.values(functions) as FunctionSpec[]) expect(secretKeysOf(spec)).toContain('PSEUDONYM_KEY');
  });
});
