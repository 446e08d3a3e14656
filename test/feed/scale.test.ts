/**
 * One command must cost about the same at 1,000 posts and users and at 1,000,000 of each: posts, users
 * and roots are persistent vectors and the handle and session indexes persistent hash tries, so a like,
 * a post or a join copies one path of nodes of at most 32 references per structure (depth 2 at 1k,
 * 4 or 5 at 1M), never a chunk that grows with the feed. The median of each kind of command at 1M must
 * be within 2x of the median at 1k. Also runs validate() and migration 1->2 both ways at 1M posts
 * (plain loops, no immer) and prints their times; `npm run bench` measures those against a floor.
 */
import { runDirection } from '../../src/feed/lib/run.ts';
import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/contract.ts';
import * as v1 from '../../src/feed/v1/index.ts';
import type { State } from '../../src/feed/v1/index.ts';
import { v1ToV2 } from '../../migrations/001-v1-to-v2.ts';
import { buildV1 } from './build.ts';
import { ctx, isRefusal } from './helpers.ts';

const ROUNDS = 400; // of one post, one like and one join each
type Kind = 'post' | 'like' | 'join';

/** Median milliseconds per command of each kind: posts, likes on live posts spread over the feed, joins. */
function perCommand(start: State, tag: string): { median: Record<Kind, number>; state: State } {
  let state = start;
  const total = state.posts.size;
  const times: Record<Kind, number[]> = { post: [], like: [], join: [] };
  for (let i = 0; i < 3 * ROUNDS; i++) {
    const kind = (['post', 'like', 'join'] as const)[i % 3]!;
    const user = `u${((i * 7) % state.count.users) + 1}`;
    let command: Command;
    if (kind === 'post') command = { type: 'post', text: `scale post ${i}` };
    else if (kind === 'join') command = { type: 'join', handle: `${tag}_${i}` };
    else {
      // a live post somewhere in the feed (deleted slots are skipped)
      let slot = (i * 7919) % total;
      while (v1.sample(state, `p${(slot + 1).toString(36)}`) === null) slot++;
      command = { type: 'like', post: `p${(slot + 1).toString(36)}` };
    }
    const t0 = performance.now();
    const out = v1.handle(state, command, ctx(user));
    times[kind].push(performance.now() - t0);
    if (isRefusal(out)) throw new Error(`${command.type} refused: ${out.error.code}`);
    state = out.state;
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  return { median: { post: median(times.post), like: median(times.like), join: median(times.join) }, state };
}

const us = (ms: number): string => `${(ms * 1000).toFixed(1)} µs`;

describe('scale', () => {
  // Building the 1M state is most of the time, and it is what a loaded machine stretches: with two other
  // processes spinning on the two cores the whole test took 62 s and 95 s, past the 60 s it had. The
  // limit only ends a run that hangs; what is asserted is the ratio below, measured in the same run.
  it('costs about the same per post, like or join at 1,000,000 posts and users as at 1,000', { timeout: 300_000 }, () => {
    const small = buildV1(1_000, 1_000);
    perCommand(small, 'warm'); // warm the JIT
    const t0 = performance.now();
    const big = buildV1(1_000_000, 1_000_000);
    const buildMs = performance.now() - t0;
    const t1 = performance.now();
    expect(v1.validate(big)).toEqual([]);
    const validateMs = performance.now() - t1;

    const atSmall = perCommand(small, 'small');
    const atBig = perCommand(big, 'big');
    expect(v1.validate(atBig.state)).toEqual([]);
    expect(atBig.state.count.posts).toBe(big.count.posts + ROUNDS);
    expect(atBig.state.count.users).toBe(big.count.users + ROUNDS);

    // migration 1 -> 2 and back over the 1M state, as the kernel would run it
    const t2 = performance.now();
    const up = runDirection(v1ToV2, 'up', big, { now: 0 });
    const upMs = performance.now() - t2;
    const t3 = performance.now();
    const down = runDirection(v1ToV2, 'down', up.state, { now: 0 });
    const downMs = performance.now() - t3;
    expect(down.state.count).toEqual(big.count);
    expect(down.dropped).toEqual({});
    // untouched parts are shared, not copied
    expect(up.state.users).toBe(big.users);
    expect(up.state.sessions).toBe(big.sessions);

    const kinds = ['post', 'like', 'join'] as const;
    console.log(
      `[scale] median per command at 1k / 1M posts and users: ` +
        kinds.map((k) => `${k} ${us(atSmall.median[k])} / ${us(atBig.median[k])}`).join(', ') +
        `; 1M build+freeze ${buildMs.toFixed(0)} ms, validate ${validateMs.toFixed(0)} ms, ` +
        `migration up ${upMs.toFixed(0)} ms, down ${downMs.toFixed(0)} ms`,
    );
    for (const k of kinds) {
      expect(atBig.median[k], k).toBeLessThan(0.5);
      // within 2x of the cost at 1k; a floor of 10 µs keeps timer noise on a tiny median from failing it
      expect(atBig.median[k], k).toBeLessThan(2 * Math.max(atSmall.median[k], 0.01));
    }
    // validate() and migration times are printed above and measured by `npm run bench` against a
    // plain-loop floor; absolute times are not asserted here, where other test files share the cores.
  });
});
