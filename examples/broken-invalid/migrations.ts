/** Broken on purpose: migration 1 -> 2 produces reactions by a user who does not exist. */
import { runDirection } from '../../src/feed/lib/run.ts';
import type { Migration } from '../../src/contract.ts';
import type { State as V1 } from '../../src/feed/v1/state.ts';
import type { State as V2 } from '../../src/feed/v2/state.ts';
import { v1ToV2 } from '../../migrations/001-v1-to-v2.ts';
import { vecGet, vecLength, vecWith } from '../../src/feed/v1/vec.ts';

const GHOST = 'u999999999';

const invalid: Migration<V1, V2> = {
  from: 1,
  to: 2,
  describe: 'likes become ❤️ reactions (broken: adds a reaction by a user who does not exist)',
  up(state, ctx) {
    const next = runDirection(v1ToV2, 'up', state, ctx).state as V2;
    // the oldest live post gets a 👍 from nobody; vecWith copies one path, the input stays untouched
    for (let i = 0; i < vecLength(next.posts); i++) {
      const post = vecGet(next.posts, i);
      if (post == null) continue;
      const posts = vecWith(next.posts, i, { ...post, reactions: { ...post.reactions, '👍': [GHOST] } });
      return { state: { ...next, posts, count: { ...next.count, reactions: next.count.reactions + 1 } } };
    }
    // no posts: a counter that counts a reaction nobody made
    return { state: { ...next, count: { ...next.count, reactions: next.count.reactions + 1 } } };
  },
};

export const migrations: readonly Migration[] = [invalid];
