import { describe, expect, it } from 'vitest';
import { BACKOFF, backoffDelay } from '../../client/src/backoff.ts';

const noJitter = { ...BACKOFF, jitter: 0 };

describe('backoffDelay', () => {
  it('doubles from the base on each attempt', () => {
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, noJitter))).toEqual([250, 500, 1000, 2000]);
  });

  it('never waits longer than the cap', () => {
    expect(backoffDelay(30, noJitter)).toBe(BACKOFF.max);
    expect(backoffDelay(30, BACKOFF, () => 1)).toBe(BACKOFF.max);
  });

  it('spreads retries by the jitter fraction either way', () => {
    expect(backoffDelay(2, BACKOFF, () => 0)).toBe(800);
    expect(backoffDelay(2, BACKOFF, () => 1)).toBe(1200);
  });
});
