import { describe, expect, it } from 'vitest';
import { ALL_TYPES, Aside, MEMORY_MS, WINDOW_MS } from '../../src/transport/aside.ts';

const R = 'release-a';

describe('command types set aside for one address', () => {
  it('sets a type aside after `after` timeouts within the window, and only that type', () => {
    const aside = new Aside(3, 5_000);
    expect(aside.timedOut('post', R, 0).ms).toBe(0);
    expect(aside.timedOut('post', R, 20_000).ms).toBe(0);
    expect(aside.refuses('post', R, 20_001).ms).toBe(0);
    expect(aside.timedOut('post', R, 40_000).ms).toBe(5_000);
    expect(aside.refuses('post', R, 41_000).ms).toBe(4_000);
    expect(aside.refuses('like', R, 41_000).ms).toBe(0);
    expect(aside.refuses('post', R, 45_000).ms).toBe(0);
  });

  it('does not count timeouts further apart than the window', () => {
    const aside = new Aside(3, 5_000);
    for (const at of [0, WINDOW_MS / 2, WINDOW_MS + 1, WINDOW_MS * 1.5 + 2]) expect(aside.timedOut('post', R, at).ms).toBe(0);
    expect(aside.refuses('post', R, WINDOW_MS * 1.5 + 3).ms).toBe(0);
  });

  it('sets it aside again at the first timeout after, twice as long each time, at most 8x', () => {
    const aside = new Aside(3, 1_000);
    let now = 0;
    for (let i = 0; i < 2; i++) aside.timedOut('post', R, now++).ms;
    expect(aside.timedOut('post', R, now).ms).toBe(1_000);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      now += 10_000;
      expect(aside.refuses('post', R, now).ms).toBe(0); // its time is up: the next one is run
      seen.push(aside.timedOut('post', R, now).ms);
    }
    expect(seen).toEqual([2_000, 4_000, 8_000, 8_000, 8_000]);
    // what the operator's status lists: how often, and how long still
    expect(aside.list(R, now + 1_000)).toEqual([{ command: 'post', times: 6, retryMs: 7_000 }]);
    expect(aside.list(R, now + 9_000)).toEqual([{ command: 'post', times: 6, retryMs: 0 }]);
    expect(aside.list('release-b', now + 1_000)).toEqual([]); // another release runs: forgotten
  });

  it('forgets a type after a quiet while, and everything when another release runs', () => {
    const aside = new Aside(3, 1_000);
    for (let i = 0; i < 3; i++) aside.timedOut('post', R, i).ms;
    expect(aside.sweep(10_000)).toBe(false); // watched: the next timeout sets it aside again
    expect(aside.sweep(MEMORY_MS + 10)).toBe(true);
    expect(aside.timedOut('post', R, MEMORY_MS + 20).ms).toBe(0); // counted afresh

    for (let i = 0; i < 3; i++) aside.timedOut('like', R, i).ms;
    expect(aside.refuses('like', R, 10).ms).toBeGreaterThan(0);
    expect(aside.refuses('like', 'release-b', 10).ms).toBe(0);
    expect(aside.timedOut('like', 'release-b', 11).ms).toBe(0);
  });

  it('sets every type aside for the address after `after` x 3 timeouts of any types within the window: rotating through types does not get around it', () => {
    const aside = new Aside(3, 5_000);
    // a client that rotates through types, each slow on some input: no type reaches 3
    for (let i = 0; i < 8; i++) expect(aside.timedOut(`x${i}`, R, i * 100)).toEqual({ ms: 0, all: false });
    expect(aside.timedOut('x8', R, 800)).toEqual({ ms: 5_000, all: true });
    // every type is refused now, the ones never slow too
    expect(aside.refuses('timeline', R, 900)).toEqual({ ms: 4_900, all: true });
    expect(aside.list(R, 900)).toContainEqual({ command: ALL_TYPES, times: 1, retryMs: 4_900 });
    // its time up, the next timeout of any type sets everything aside again, twice as long
    expect(aside.refuses('timeline', R, 6_000).ms).toBe(0);
    expect(aside.timedOut('x9', R, 6_000)).toEqual({ ms: 10_000, all: true });
    // timeouts spread wider than the window never add up to it
    const slow = new Aside(3, 5_000);
    for (let i = 0; i < 20; i++) expect(slow.timedOut(`y${i}`, R, i * 10_000).all).toBe(false);
  });

  it('keeps a count still within its window through a sweep, and never sets aside when `after` is 0', () => {
    const aside = new Aside(3, 1_000);
    aside.timedOut('post', R, 0).ms;
    aside.timedOut('post', R, 1_000).ms;
    expect(aside.sweep(2_000)).toBe(false);
    expect(aside.timedOut('post', R, 3_000).ms).toBe(1_000);

    const off = new Aside(0, 1_000);
    for (let i = 0; i < 10; i++) expect(off.timedOut('post', R, i).ms).toBe(0);
    expect(off.sweep(20)).toBe(true);
  });
});
