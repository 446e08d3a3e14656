/**
 * 2 -> 3: people get profiles; follows, notifications and edit history start empty.
 *
 * Written one entity at a time (src/feed/lib/steps.ts): `each` maps one user or one post, `finish`
 * builds the rest without a walk. Handles, sessions and roots are shared as they are.
 *
 *   up    user  {id, handle, joined} -> + name (the handle), bio '', followers 0, following 0,
 *                                        inbox {last -1, seen -1, unread 0}
 *         post  + edits []                      follows, notifications: new and empty
 *   down  user  -> {id, handle, joined}: names and bios go
 *         post  -> without edits: the current text stays, earlier versions go
 *         follows, notifications: removed; dropped {follows, notifications, edits} says how many
 */
import type { State as V2, Post as V2Post, User as V2User } from '../src/feed/v2/state.ts';
import type { State as V3, Post as V3Post, User as V3User } from '../src/feed/v3/state.ts';
import { emptyTrie } from '../src/feed/v1/trie.ts';
import { emptyVec, type Vec } from '../src/feed/v1/vec.ts';
import { trie, vec, wholeState, type Shape, type Step } from '../src/feed/lib/steps.ts';

const v2Shape: Shape = { users: vec('users'), handles: trie('handles'), sessions: trie('sessions'), posts: vec('posts'), roots: vec('roots') };
const v3Shape: Shape = { ...v2Shape, follows: trie('follows'), notifications: vec('notifications') };

export const v2ToV3Step: Step<V2, V3> = {
  from: 2,
  to: 3,
  shapes: { from: v2Shape, to: v3Shape },
  up: {
    describe: 'People get profiles, follows, mentions and notifications, and posts can be edited',
    changes: {
      users: { add: ['name', 'bio', 'followers', 'following', 'inbox'] },
      posts: { add: ['edits'] },
      follows: { creates: true },
      notifications: { creates: true },
    },
    each: {
      users: (user: V2User): V3User => ({
        id: user.id,
        handle: user.handle,
        joined: user.joined,
        name: user.handle,
        bio: '',
        followers: 0,
        following: 0,
        inbox: { last: -1, seen: -1, unread: 0 },
      }),
      posts: (post: V2Post | null): V3Post | null =>
        post === null
          ? null
          : { id: post.id, author: post.author, text: post.text, at: post.at, replyTo: post.replyTo, replies: post.replies, reactions: post.reactions, edits: [] },
    },
    finish: (state, mapped) => {
      const { handles, sessions, roots, count } = state;
      return {
        state: {
          users: mapped.users as Vec<V3User>,
          handles,
          sessions,
          posts: mapped.posts as Vec<V3Post | null>,
          roots,
          follows: emptyTrie(),
          notifications: emptyVec(),
          count: { users: count.users, posts: count.posts, reactions: count.reactions, follows: 0, notifications: 0, edits: 0 },
        },
      };
    },
  },
  down: {
    describe: 'Profiles, follows, notifications and edit history go away; posts keep their current text',
    changes: {
      users: { remove: ['name', 'bio', 'followers', 'following', 'inbox'] },
      posts: { remove: ['edits'] },
      follows: { removed: true },
      notifications: { removed: true },
    },
    each: {
      users: (user: V3User): V2User => ({ id: user.id, handle: user.handle, joined: user.joined }),
      posts: (post: V3Post | null): V2Post | null =>
        post === null
          ? null
          : { id: post.id, author: post.author, text: post.text, at: post.at, replyTo: post.replyTo, replies: post.replies, reactions: post.reactions },
    },
    finish: (state, mapped) => {
      const { handles, sessions, roots, count } = state;
      return {
        state: {
          users: mapped.users as Vec<V2User>,
          handles,
          sessions,
          posts: mapped.posts as Vec<V2Post | null>,
          roots,
          count: { users: count.users, posts: count.posts, reactions: count.reactions },
        },
        dropped: { follows: count.follows, notifications: count.notifications, edits: count.edits },
      };
    },
  },
};

/** The step as today's kernel runs it: every entity in one go (see src/feed/lib/steps.ts). */
export const v2ToV3 = wholeState(v2ToV3Step);
