/**
 * 1 -> 2: likes become ❤️ reactions. Plain loops over the post chunks, no immer (a whole-state pass
 * through produce costs seconds at 1M posts); users, indexes, roots and each post's replies list are
 * reused as they are. The kernel deep-freezes the result.
 *
 *   up    post.likes [a, b]   -> post.reactions {'❤️': [a, b]}   (no likes -> {})
 *   down  post.reactions      -> post.likes = everyone who reacted with anything, once each
 *                                (❤️ first, then in the order v2 lists emoji); the rest is dropped
 */
import type { Migration } from '../src/contract.ts';
import type { State as V1, Post as V1Post } from '../src/feed/v1/state.ts';
import type { State as V2, Post as V2Post } from '../src/feed/v2/state.ts';

/** v2's emoji order, ❤️ first: the order in which down() collects reactors into likes. */
const ORDER = ['❤️', '😂', '🎉', '😮', '😢', '👍'];

function up(state: V1): { state: V2 } {
  const posts: (V2Post | null)[][] = new Array(state.posts.length);
  for (let c = 0; c < state.posts.length; c++) {
    const chunk = state.posts[c]!;
    const out: (V2Post | null)[] = new Array(chunk.length);
    for (let i = 0; i < chunk.length; i++) {
      const post = chunk[i]!;
      out[i] =
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
            };
    }
    posts[c] = out;
  }
  const { users, handles, sessions, roots, count } = state;
  return {
    state: { users, handles, sessions, posts, roots, count: { users: count.users, posts: count.posts, reactions: count.likes } },
  };
}

function down(state: V2): { state: V1; dropped: { reactions: number } } {
  let reactions = 0;
  let likes = 0;
  const posts: (V1Post | null)[][] = new Array(state.posts.length);
  for (let c = 0; c < state.posts.length; c++) {
    const chunk = state.posts[c]!;
    const out: (V1Post | null)[] = new Array(chunk.length);
    for (let i = 0; i < chunk.length; i++) {
      const post = chunk[i]!;
      if (post === null) {
        out[i] = null;
        continue;
      }
      const liked = likers(post.reactions as Record<string, readonly string[]>);
      reactions += liked.total;
      likes += liked.users.length;
      out[i] = {
        id: post.id,
        author: post.author,
        text: post.text,
        at: post.at,
        replyTo: post.replyTo,
        replies: post.replies,
        likes: liked.users,
      };
    }
    posts[c] = out;
  }
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
