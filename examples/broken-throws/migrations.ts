/** Broken on purpose: migration 1 -> 2 throws halfway through the posts. */
import { runDirection } from '../../src/feed/lib/run.ts';
import type { Migration } from '../../src/contract.ts';
import type { State as V1 } from '../../src/feed/v1/state.ts';
import type { State as V2 } from '../../src/feed/v2/state.ts';
import { v1ToV2 } from '../../migrations/001-v1-to-v2.ts';
import { vecForEach } from '../../src/feed/v1/vec.ts';

const throwsHalfway: Migration<V1, V2> = {
  from: 1,
  to: 2,
  describe: 'likes become ❤️ reactions (broken: throws halfway through the posts)',
  up(state, ctx) {
    const half = Math.floor(state.count.posts / 2);
    let seen = 0;
    vecForEach(state.posts, (post) => {
      if (post !== null && seen++ === half) throw new Error(`broken-throws: gave up at post ${post.id}, halfway through`);
    });
    if (seen <= half) throw new Error('broken-throws: gave up halfway through no posts at all');
    return runDirection(v1ToV2, 'up', state, ctx);
  },
};

export const migrations: readonly Migration[] = [throwsHalfway];
