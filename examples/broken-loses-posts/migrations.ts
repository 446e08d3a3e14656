/**
 * Broken on purpose: migration 1 -> 2 silently drops the newest post. The state it returns is valid
 * (counters adjusted, reply lists fixed), so only the kernel's census check can notice: posts went
 * down by one and nothing was declared dropped.
 */
import type { Migration } from '../../src/contract.ts';
import type { State as V1 } from '../../src/feed/v1/state.ts';
import type { State as V2 } from '../../src/feed/v2/state.ts';
import { v1ToV2 } from '../../migrations/001-v1-to-v2.ts';

const losesPosts: Migration<V1, V2> = {
  from: 1,
  to: 2,
  describe: 'likes become ❤️ reactions (broken: quietly loses the newest post)',
  up(state, ctx) {
    const { state: next } = v1ToV2.up(state, ctx);
    // up() built fresh chunk arrays and post objects: safe to change them before the kernel freezes them
    for (let c = next.posts.length - 1; c >= 0; c--) {
      const chunk = next.posts[c]!;
      for (let i = chunk.length - 1; i >= 0; i--) {
        const post = chunk[i];
        if (post == null) continue;
        chunk[i] = null;
        next.count.posts -= 1;
        for (const emoji in post.reactions) next.count.reactions -= post.reactions[emoji as '❤️']!.length;
        if (post.replyTo !== null) {
          const slot = parseInt(post.replyTo.slice(1), 36) - 1;
          const parentChunk = next.posts[slot >> 10]!;
          const parent = parentChunk[slot & 1023];
          if (parent) parentChunk[slot & 1023] = { ...parent, replies: parent.replies.filter((id) => id !== post.id) };
        }
        return { state: next };
      }
    }
    return { state: next };
  },
};

export const migrations: readonly Migration[] = [losesPosts];
