/** Broken on purpose: migration 1 -> 2 produces reactions by a user who does not exist. */
import type { Migration } from '../../src/contract.ts';
import type { State as V1 } from '../../src/feed/v1/state.ts';
import type { State as V2 } from '../../src/feed/v2/state.ts';
import { v1ToV2 } from '../../migrations/001-v1-to-v2.ts';

const GHOST = 'u999999999';

const invalid: Migration<V1, V2> = {
  from: 1,
  to: 2,
  describe: 'likes become ❤️ reactions (broken: adds a reaction by a user who does not exist)',
  up(state, ctx) {
    const { state: next } = v1ToV2.up(state, ctx);
    // up() built fresh chunk arrays and post objects: safe to change them before the kernel freezes them
    for (const chunk of next.posts) {
      for (let i = 0; i < chunk.length; i++) {
        const post = chunk[i];
        if (post == null) continue;
        chunk[i] = { ...post, reactions: { ...post.reactions, '👍': [GHOST] } };
        next.count.reactions += 1;
        return { state: next };
      }
    }
    next.count.reactions += 1; // no posts: a counter that counts a reaction nobody made
    return { state: next };
  },
};

export const migrations: readonly Migration[] = [invalid];
