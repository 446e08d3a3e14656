/**
 * 2 -> 3: people get profiles; follows, notifications and edit history start empty.
 *
 * Entity by entity, so the kernel can run it beside the live feed: `each` maps one user or one post,
 * `finish` builds the rest without a walk. Handles, sessions and the timeline are shared as they are.
 *
 *   up    user  {id, handle, joined} -> + name (the handle), bio '', followers 0, following 0,
 *                                        inbox {last -1, seen -1, unread 0}
 *         post  + edits []                      follows, notifications: new and empty
 *   down  user  -> {id, handle, joined}: names and bios go
 *         post  -> without edits: the current text stays, earlier versions go
 *         follows, notifications: removed; dropped {follows, notifications, edits} says how many
 */
import type { Migration } from '../src/contract.ts';
import { v2Shape } from '../src/feed/lib/shapes.ts';
import { emptyTrie } from '../src/feed/lib/trie.ts';
import { emptyVec, type Vec } from '../src/feed/lib/vec.ts';
import type { State as V2, Post as V2Post, User as V2User } from '../src/feed/v2/state.ts';
import { shape as v3Shape } from '../src/feed/v3/shape.ts';
import type { State as V3, Post as V3Post, User as V3User } from '../src/feed/v3/state.ts';

export const v2ToV3: Migration<V2, V3> = {
  from: 2,
  to: 3,
  describe: 'users gain name, bio, follow counts and an inbox; posts gain edits; follows and notifications begin',
  shapes: { from: v2Shape, to: v3Shape },
  lossless: true,
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
      posts: (post: V2Post): V3Post => ({ id: post.id, author: post.author, text: post.text, at: post.at, replyTo: post.replyTo, replies: post.replies, reactions: post.reactions, edits: [] }),
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
      posts(post: V3Post, ctx): V2Post {
        // the earlier versions of an edited post go; its current text stays
        if (post.edits.length > 0) ctx.drop('edits', post.edits.length);
        return { id: post.id, author: post.author, text: post.text, at: post.at, replyTo: post.replyTo, replies: post.replies, reactions: post.reactions };
      },
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
        // edits were declared post by post (each); follows and notifications go whole
        dropped: { follows: count.follows, notifications: count.notifications },
      };
    },
  },
};
