/**
 * Broken on purpose: migration 1 -> 2 silently drops the newest post. The state it returns is valid
 * (counters adjusted, reply lists fixed), so only the kernel's census check can notice: posts went
 * down by one and nothing was declared dropped.
 */
import { runDirection } from '../../src/feed/lib/run.ts';
import type { Migration } from '../../src/contract.ts';
import type { State as V1 } from '../../src/feed/v1/state.ts';
import type { State as V2 } from '../../src/feed/v2/state.ts';
import { v1ToV2 } from '../../migrations/001-v1-to-v2.ts';
import { vecGet, vecLength, vecWith } from '../../src/feed/v1/vec.ts';

const losesPosts: Migration<V1, V2> = {
  from: 1,
  to: 2,
  describe: 'likes become ❤️ reactions (broken: quietly loses the newest post)',
  up(state, ctx) {
    const next = runDirection(v1ToV2, 'up', state, ctx).state as V2;
    // plain path copies (vecWith): the input and everything shared with it stay untouched
    for (let i = vecLength(next.posts) - 1; i >= 0; i--) {
      const post = vecGet(next.posts, i);
      if (post == null) continue;
      let posts = vecWith(next.posts, i, null);
      let reactions = next.count.reactions;
      for (const emoji in post.reactions) reactions -= post.reactions[emoji as '❤️']!.length;
      if (post.replyTo !== null) {
        const slot = parseInt(post.replyTo.slice(1), 36) - 1;
        const parent = vecGet(posts, slot);
        if (parent) posts = vecWith(posts, slot, { ...parent, replies: parent.replies.filter((id) => id !== post.id) });
      }
      return { state: { ...next, posts, count: { ...next.count, posts: next.count.posts - 1, reactions } } };
    }
    return { state: next };
  },
};

export const migrations: readonly Migration[] = [losesPosts];
