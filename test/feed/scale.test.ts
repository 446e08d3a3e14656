/**
 * One command must cost the same at 1,000 posts and at 1,000,000: the chunked layout means a like or
 * a post copies one chunk of 1024 and the outer array of chunk references, never the whole list.
 * Also times validate() and migration 1->2 both ways at 1M posts (plain loops, no immer).
 */
import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/contract.ts';
import * as v1 from '../../src/feed/v1/index.ts';
import type { State } from '../../src/feed/v1/index.ts';
import { v1ToV2 } from '../../migrations/001-v1-to-v2.ts';
import { buildV1 } from './build.ts';
import { ctx, isRefusal } from './helpers.ts';

const COMMANDS = 400; // 200 likes + 200 posts

/** Median milliseconds per command over 200 likes (on posts spread over the feed) and 200 posts. */
function perCommand(start: State): { median: number; state: State } {
  let state = start;
  const posts = state.count.posts;
  const total = state.posts.length * 1024;
  const times: number[] = [];
  for (let i = 0; i < COMMANDS; i++) {
    const user = `u${(i % state.count.users) + 1}`;
    let command: Command;
    if (i % 2 === 0) command = { type: 'post', text: `scale post ${i}` };
    else {
      // a live post somewhere in the feed (deleted slots are skipped)
      let slot = (i * 7919) % Math.min(posts, total);
      while (v1.sample(state, `p${(slot + 1).toString(36)}`) === null) slot++;
      command = { type: 'like', post: `p${(slot + 1).toString(36)}` };
    }
    const t0 = performance.now();
    const out = v1.handle(state, command, ctx(user));
    times.push(performance.now() - t0);
    if (isRefusal(out)) throw new Error(`${command.type} refused: ${out.error.code}`);
    state = out.state;
  }
  times.sort((a, b) => a - b);
  return { median: times[times.length >> 1]!, state };
}

describe('scale', () => {
  it('costs about the same per like or post at 1,000,000 posts as at 1,000', { timeout: 60_000 }, () => {
    const small = buildV1(1_000);
    perCommand(small); // warm the JIT
    const t0 = performance.now();
    const big = buildV1(1_000_000);
    const buildMs = performance.now() - t0;
    const t1 = performance.now();
    expect(v1.validate(big)).toEqual([]);
    const validateMs = performance.now() - t1;

    const atSmall = perCommand(small);
    const atBig = perCommand(big);
    expect(v1.validate(atBig.state)).toEqual([]);
    expect(atBig.state.count.posts).toBe(big.count.posts + COMMANDS / 2);

    // migration 1 -> 2 and back over the 1M state, as the kernel would run it
    const t2 = performance.now();
    const up = v1ToV2.up(big, { now: 0 });
    const upMs = performance.now() - t2;
    const t3 = performance.now();
    const down = v1ToV2.down!(up.state, { now: 0 });
    const downMs = performance.now() - t3;
    expect(down.state.count).toEqual(big.count);
    expect(down.dropped).toEqual({ reactions: 0 });

    console.log(
      `[scale] per command: ${atSmall.median.toFixed(3)} ms at 1k posts, ${atBig.median.toFixed(3)} ms at 1M posts; ` +
        `1M build+freeze ${buildMs.toFixed(0)} ms, validate ${validateMs.toFixed(0)} ms, ` +
        `migration up ${upMs.toFixed(0)} ms, down ${downMs.toFixed(0)} ms`,
    );
    expect(atBig.median).toBeLessThan(2);
    // a floor of 20 µs keeps timer noise on a tiny 1k median from failing the ratio
    expect(atBig.median).toBeLessThan(5 * Math.max(atSmall.median, 0.02));
    expect(validateMs).toBeLessThan(1500);
    expect(upMs).toBeLessThan(1500);
    expect(downMs).toBeLessThan(1500);
  });
});
