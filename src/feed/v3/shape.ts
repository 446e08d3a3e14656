/**
 * Where v3's entities live, for the kernel's migration runner and its per-entity checks: v2's
 * collections (src/feed/lib/shapes.ts) plus follows and notifications. Its own module, so a migration
 * can name it without bundling the rest of v3.
 */
import type { Shape } from '../../contract.ts';
import { trie, vec } from '../lib/collections.ts';
import { postId, userId } from '../v1/ids.ts';
import { notificationId, type State } from './state.ts';

export const shape: Shape<State> = {
  users: vec((s: State) => s.users, { name: (slot) => `user ${userId(slot)}` }),
  posts: vec((s: State) => s.posts, { tombstone: null, name: (slot) => `post ${postId(slot)}` }),
  timeline: vec((s: State) => s.roots, { name: (i) => `timeline entry ${i}` }),
  sessions: trie((s: State) => s.sessions, { name: (_token, user) => `a session of ${String(user)}` }),
  handles: trie((s: State) => s.handles, { name: (handle) => `handle ${handle}` }),
  follows: trie((s: State) => s.follows, { name: (key) => `follow ${key}` }),
  notifications: vec((s: State) => s.notifications, { name: (slot) => `notification ${notificationId(slot)}` }),
};
