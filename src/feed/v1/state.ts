/**
 * The shape of a feed state. Only plain objects, arrays, strings, finite numbers, booleans and null:
 * the state crosses V8 realms and is encoded with msgpack.
 *
 *   users     Vec<User>          by user slot ("u1" is slot 0); users are never removed
 *   handles   Trie               lowercase handle -> user id
 *   sessions  Trie               session token -> user id
 *   posts     Vec<Post | null>   by post slot ("p1" is slot 0); null = deleted
 *   roots     Vec<number>        post slots of top-level posts, oldest first (timeline pages)
 *   count     running counters   checked by validate(), returned by census()
 *
 * Vec (vec.ts) is a persistent vector of branching 32 and Trie (trie.ts) a persistent hash trie of
 * 32-way nodes: one command changes one path of small nodes (at most 32 references each), so its cost
 * grows with the log of the feed's size (4 levels at 1M posts), never with the size itself.
 *
 * Core and PostBase are what every version shares; a version adds its own fields to posts (v1: likes).
 */
import type { UserId } from '../../contract.ts';
import type { PostId } from './ids.ts';
import type { Trie } from './trie.ts';
import type { Vec } from './vec.ts';

export interface User {
  id: UserId;
  /** As typed at join (case kept); the index key is its lowercase form. */
  handle: string;
  joined: number;
}

export interface PostBase {
  id: PostId;
  author: UserId;
  text: string;
  at: number;
  replyTo: PostId | null;
  /** Ids of the live replies, oldest first. */
  replies: PostId[];
}

export interface Counts {
  users: number;
  /** Live posts, replies included. */
  posts: number;
  [kind: string]: number;
}

export interface Core<P extends PostBase = PostBase> {
  users: Vec<User>;
  handles: Trie;
  sessions: Trie;
  posts: Vec<P | null>;
  roots: Vec<number>;
  count: Counts;
}

/** v1 posts carry the ids of the users who like them. */
export interface Post extends PostBase {
  likes: UserId[];
}

export interface State extends Core<Post> {
  count: { users: number; posts: number; likes: number };
}
