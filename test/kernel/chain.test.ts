import { describe, expect, it } from 'vitest';
import type { Migration } from '../../src/contract.ts';
import { checkChain, plan } from '../../src/kernel/chain.ts';

const step = (from: number, to = from + 1, down = true): Migration => ({
  from, to, describe: `${from}->${to}`,
  up: (s) => ({ state: s }),
  ...(down ? { down: (s: unknown) => ({ state: s }) } : {}),
});

describe('migration chain', () => {
  it('accepts a gapless chain ending at the release version, in any order', () => {
    expect(() => checkChain([step(2), step(1), step(3)], 4)).not.toThrow();
    expect(() => checkChain([], 1)).not.toThrow();
  });
  it('rejects a step that is not +1', () => {
    expect(() => checkChain([step(1, 3)], 3)).toThrow('Migration steps must go up by exactly 1: migration 1->3 should be 1->2');
  });
  it('rejects a gap with the step it expected', () => {
    expect(() => checkChain([step(1), step(3)], 4)).toThrow('Migration chain has a gap: expected a step from 2 to 3 but got 3->4');
  });
  it('rejects two steps from the same version', () => {
    expect(() => checkChain([step(1), step(1)], 2)).toThrow('Two migrations start at version 1');
  });
  it('rejects a chain that stops short of the release', () => {
    expect(() => checkChain([step(1)], 3)).toThrow('Migration chain ends at 2 but the release is version 3: the step 2->3 is missing');
  });
  it('plans up with up and down with down, in order', () => {
    const chain = [step(1), step(2), step(3)];
    expect(plan(chain, 1, 4).map((s) => `${s.label}:${s.direction}`)).toEqual(['1->2:up', '2->3:up', '3->4:up']);
    expect(plan(chain, 4, 2).map((s) => `${s.label}:${s.direction}`)).toEqual(['4->3:down', '3->2:down']);
    expect(plan(chain, 2, 2)).toEqual([]);
  });
  it('refuses to plan back through a step without down', () => {
    expect(() => plan([step(1), step(2, 3, false)], 3, 1)).toThrow(/Migration 2->3 has no down: version 3 cannot go back to 1\. Mistakes cost/);
  });
});
