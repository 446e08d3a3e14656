/**
 * `npm run load`, short: clients join and post at a steady rate while the operator pushes version 2
 * and rolls back, through the operator API of a real server in its own process. Every count must be
 * zero: no acknowledged post missing from the final state, none twice, nothing out of order, no event
 * missed or repeated, no disconnect, no refusal, every post answered, every upgrade committed.
 */
import { describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/load.ts';

describe('the load test, short', () => {
  it('loses, repeats and reorders nothing while 40 clients post through four upgrades', { timeout: 120_000 }, async () => {
    const r = await runLoad({ clients: 40, rate: 120, seconds: 6, upgrades: 4, groups: 1 });
    console.log(`load: ${JSON.stringify({ posts: r.posts, latencyMs: r.latencyMs, upgrades: r.upgrades.pauseMs })}`);
    expect(r.counts).toEqual({
      ackedMissingFromFinalState: 0,
      duplicates: 0,
      repliesOutOfOrder: 0,
      eventsOutOfOrder: 0,
      eventsRepeated: 0,
      eventsMissed: 0,
      unexpectedDisconnects: 0,
      refused: 0,
      unanswered: 0,
      upgradesRefused: 0,
    });
    expect(r.allZero).toBe(true);
    expect(r.posts.acknowledged).toBeGreaterThan(600); // the rate was kept: 120/s for 6 s
    expect(r.posts.inFinalState).toBe(r.posts.acknowledged);
    expect(r.upgrades).toMatchObject({ count: 4, committed: 4 });
    expect(r.latencyMs.duringUpgrades.n).toBeGreaterThan(0);
  });
});
