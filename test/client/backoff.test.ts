import { describe, expect, it } from 'vitest';
import { BACKOFF, BUSY, backoffDelay, busyDelay } from '../../client/src/backoff.ts';

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

describe('busyDelay (asking a busy server again)', () => {
  it('doubles from half a second, waits at least what the refusal asked, and never past 30 s', () => {
    expect([0, 1, 2, 5, 6, 20].map((a) => busyDelay(a))).toEqual([500, 1000, 2000, 16_000, 30_000, 30_000]);
    expect(busyDelay(0, 4_000)).toBe(4_000);
    expect(busyDelay(0, 90_000)).toBe(30_000);
    expect([0, 4, 5].map((a) => busyDelay(a, undefined, { ...BUSY, base: 1000 }))).toEqual([1000, 16_000, 30_000]);
  });
});
