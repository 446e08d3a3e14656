/**
 * The shapes of the versions that predate `shape` exports: v1 and v2 are released and frozen, so their
 * collections are described here, from outside. Both lay out their state the same way (../v1/state.ts);
 * only the posts' own fields differ (likes, reactions).
 */
import type { Shape } from '../../contract.ts';
import { postId, userId } from '../v1/ids.ts';
import { trie, vec } from './collections.ts';

interface Layout {
  users: never;
  posts: never;
  roots: never;
  sessions: never;
  handles: never;
}

function coreShape(): Shape<any> {
  return {
    users: vec((s: Layout) => s.users, { name: (slot) => `user ${userId(slot)}` }),
    posts: vec((s: Layout) => s.posts, { tombstone: null, name: (slot) => `post ${postId(slot)}` }),
    timeline: vec((s: Layout) => s.roots, { name: (i) => `timeline entry ${i}` }),
    sessions: trie((s: Layout) => s.sessions, { name: (_token, user) => `a session of ${String(user)}` }),
    handles: trie((s: Layout) => s.handles, { name: (handle) => `handle ${handle}` }),
  };
}

/** Feed v1: users, posts (with likes), the timeline (top-level post slots), sessions, handles. */
export const v1Shape: Shape = coreShape();
/** Feed v2: the same collections; posts carry reactions instead of likes. */
export const v2Shape: Shape = coreShape();
