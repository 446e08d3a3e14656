/**
 * 1 -> 2: likes become ❤️ reactions. Plain loops over the posts vector (vecMap), no immer (a
 * whole-state pass through produce costs seconds at 1M posts); users, indexes, roots, each post's
 * replies list and every leaf of deleted posts only are reused as they are. The kernel deep-freezes
 * the result.
 *
 *   up    post.likes [a, b]   -> post.reactions {'❤️': [a, b]}   (no likes -> {})
 *   down  post.reactions      -> post.likes = everyone who reacted with anything, once each
 *                                (❤️ first, then in the order v2 lists emoji); the rest is dropped
 */
import type { Migration } from '../src/contract.ts';
import type { State as V1, Post as V1Post } from '../src/feed/v1/state.ts';
import type { State as V2, Post as V2Post } from '../src/feed/v2/state.ts';
import { vecMap } from '../src/feed/v1/vec.ts';

/** v2's emoji order, ❤️ first: the order in which down() collects reactors into likes. */
const ORDER = ['❤️', '😂', '🎉', '😮', '😢', '👍'];

function up(state: V1): { state: V2 } {
  // every live post changes; a leaf of deleted posts only is reused as it is
  const posts = vecMap(state.posts, (post): V2Post | null =>
    post === null
      ? null
      : {
          id: post.id,
          author: post.author,
          text: post.text,
          at: post.at,
          replyTo: post.replyTo,
          replies: post.replies,
          // a literal key, not [HEART]: V8 builds literal-keyed objects on its fast path
          reactions: post.likes.length === 0 ? {} : { '❤️': post.likes },
        },
  );
  const { users, handles, sessions, roots, count } = state;
  return {
    state: { users, handles, sessions, posts, roots, count: { users: count.users, posts: count.posts, reactions: count.likes } },
  };
}

function down(state: V2): { state: V1; dropped: { reactions: number } } {
  let reactions = 0;
  let likes = 0;
  const posts = vecMap(state.posts, (post): V1Post | null => {
    if (post === null) return null;
    const liked = likers(post.reactions as Record<string, readonly string[]>);
    reactions += liked.total;
    likes += liked.users.length;
    return {
      id: post.id,
      author: post.author,
      text: post.text,
      at: post.at,
      replyTo: post.replyTo,
      replies: post.replies,
      likes: liked.users,
    };
  });
  const { users, handles, sessions, roots, count } = state;
  return {
    state: { users, handles, sessions, posts, roots, count: { users: count.users, posts: count.posts, likes } },
    dropped: { reactions: reactions - likes },
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
  up,
  down,
};
