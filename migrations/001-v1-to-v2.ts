/**
 * 1 -> 2: likes become ❤️ reactions, entity by entity, so the kernel can run it beside the live feed.
 * Only posts change; users, indexes, the timeline and every leaf of deleted posts are reused as they
 * are. `finish` puts the state together and keeps the counters without walking the posts.
 *
 *   up    post.likes [a, b]   -> post.reactions {'❤️': [a, b]}   (no likes -> {})
 *   down  post.reactions      -> post.likes = everyone who reacted with anything, once each
 *                                (❤️ first, then in the order v2 lists emoji); the rest is dropped
 */
import type { Migration } from '../src/contract.ts';
import type { State as V1, Post as V1Post } from '../src/feed/v1/state.ts';
import type { State as V2, Post as V2Post } from '../src/feed/v2/state.ts';
import { v1Shape, v2Shape } from '../src/feed/lib/shapes.ts';

/** v2's emoji order, ❤️ first: the order in which down() collects reactors into likes. */
const ORDER = ['❤️', '😂', '🎉', '😮', '😢', '👍'];

function react(post: V1Post): V2Post {
  return {
    id: post.id,
    author: post.author,
    text: post.text,
    at: post.at,
    replyTo: post.replyTo,
    replies: post.replies,
    // a literal key, not [HEART]: V8 builds literal-keyed objects on its fast path
    reactions: post.likes.length === 0 ? {} : { '❤️': post.likes },
  };
}

/** Everyone who reacted, once each, and how many reactions there were. */
function likers(reactions: Record<string, readonly string[]>): { users: string[]; total: number } {
  let only: readonly string[] | undefined;
  let kinds = 0;
  let total = 0;
  for (const emoji in reactions) {
    only = reactions[emoji]!;
    kinds++;
    total += only.length;
  }
  // one emoji: its list is already deduplicated; reuse it (❤️-only posts round-trip to the same array)
  if (kinds === 0) return { users: [], total };
  if (kinds === 1) return { users: only as string[], total };
  const seen = new Set<string>();
  for (const emoji of ORDER) for (const id of reactions[emoji] ?? []) seen.add(id);
  return { users: [...seen], total };
}

export const v1ToV2: Migration<V1, V2> = {
  from: 1,
  to: 2,
  describe: "posts' likes become ❤️ reactions; down keeps one like per user who reacted with anything",
  shapes: { from: v1Shape, to: v2Shape },
  lossless: true,
  up: {
    describe: 'Likes are becoming emoji reactions: every like turns into a ❤️.',
    changes: { posts: { remove: ['likes'], add: ['reactions'] }, likes: { rename: 'reactions' } },
    each: { posts: react },
    finish(state, mapped) {
      const { users, handles, sessions, roots, count } = state;
      return { state: { users, handles, sessions, posts: mapped.posts, roots, count: { users: count.users, posts: count.posts, reactions: count.likes } } };
    },
  },
  down: {
    describe: 'Reactions are going back to likes: one like for each person who reacted; the other reactions are dropped.',
    changes: { posts: { remove: ['reactions'], add: ['likes'] }, reactions: { rename: 'likes', drops: true } },
    each: {
      posts(post: V2Post, ctx): V1Post {
        const liked = likers(post.reactions as Record<string, readonly string[]>);
        if (liked.total > liked.users.length) ctx.drop('reactions', liked.total - liked.users.length);
        return { id: post.id, author: post.author, text: post.text, at: post.at, replyTo: post.replyTo, replies: post.replies, likes: liked.users };
      },
    },
    finish(state, mapped, ctx) {
      const { users, handles, sessions, roots, count } = state;
      // every reaction became a like except those declared dropped
      const likes = count.reactions - (ctx.dropped['reactions'] ?? 0);
      return { state: { users, handles, sessions, posts: mapped.posts, roots, count: { users: count.users, posts: count.posts, likes } } };
    },
  },
};
