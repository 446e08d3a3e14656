/**
 * Feed v3's state: v2's layout (../v1/state.ts, ../v2/state.ts) grown by live migration, never rebuilt.
 *
 *   users          Vec<User>          v1's users plus a profile (name, bio), follow counts and an inbox
 *   handles        Trie               lowercase handle -> user id                          (as v1)
 *   sessions       Trie               session token -> user id                             (as v1)
 *   posts          Vec<Post | null>   v2's posts plus `edits`, the versions replaced by edits
 *   roots          Vec<number>        slots of top-level posts, oldest first               (as v1)
 *   follows        Trie               "<follower>><followee>" -> followee id
 *   notifications  Vec<Notification>  every notification, oldest first; each user's form a list
 *                                      through `prev`, newest first from user.inbox.last
 *   count          running counters   census() reads them: O(1) whatever the size
 *
 * Every collection is a persistent vector or hash trie, so one command copies one short path. Nothing
 * here is derived from posts in bulk (no per-author or per-tag index): timelines that filter (home,
 * a person's posts, a tag) scan back from a cursor within a budget (lib/scan.ts).
 */
import type { UserId } from '../../contract.ts';
import type { PostId } from '../v1/ids.ts';
import type { PostBase, User as V1User } from '../v1/state.ts';
import type { Trie } from '../lib/trie.ts';
import type { Vec } from '../lib/vec.ts';
import type { Emoji } from '../v2/state.ts';

export type { Emoji } from '../v2/state.ts';
export { EMOJI } from '../v2/state.ts';

export interface Inbox {
  /** Slot of this user's newest notification, -1 when none. */
  last: number;
  /** Notifications up to this slot are read (mark_read); -1 when none is. */
  seen: number;
  /** How many of this user's notifications are after `seen`. */
  unread: number;
}

export interface User extends V1User {
  /** Display name: 1 to 50 characters; the handle until the person sets one. */
  name: string;
  /** 0 to 160 characters. */
  bio: string;
  followers: number;
  following: number;
  inbox: Inbox;
}

/** A version of a post's text that an edit replaced: the text, and when the edit replaced it. */
export interface Edit {
  text: string;
  at: number;
}

export interface Post extends PostBase {
  reactions: Partial<Record<Emoji, UserId[]>>;
  /** Replaced versions, oldest first. Version k was written at edits[k - 1].at (or at the post's `at`). */
  edits: Edit[];
}

export type NotificationType = 'mention' | 'reply' | 'reaction' | 'follow';

export interface Notification {
  /** "n<slot + 1 in base 36>" */
  id: string;
  type: NotificationType;
  /** Who it is for: delivered live only to them. */
  to: UserId;
  /** Who caused it. */
  by: UserId;
  /** The post it is about (the mention, the reply, the post reacted to); null for a follow. */
  post: PostId | null;
  /** The emoji of a reaction; null otherwise. */
  emoji: Emoji | null;
  at: number;
  /** Slot of the previous notification to the same user, -1 for the first. */
  prev: number;
}

export type Counts = {
  users: number;
  posts: number;
  reactions: number;
  follows: number;
  notifications: number;
  edits: number;
};

export interface State {
  users: Vec<User>;
  handles: Trie;
  sessions: Trie;
  posts: Vec<Post | null>;
  roots: Vec<number>;
  follows: Trie;
  notifications: Vec<Notification>;
  count: Counts;
}

/** The key of "a follows b" in `follows`. */
export function followKey(a: UserId, b: UserId): string {
  return `${a}>${b}`;
}

export function notificationId(slot: number): string {
  return `n${(slot + 1).toString(36)}`;
}
