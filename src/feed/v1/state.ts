/**
 * The shape of a feed state. Only plain objects, arrays, strings, finite numbers, booleans and null:
 * the state crosses V8 realms and is encoded with msgpack.
 *
 *   users     User[][]           chunks of 1024 by user slot ("u1" is slot 0); users are never removed
 *   handles   Shards             lowercase handle -> user id
 *   sessions  Shards             session token -> user id
 *   posts     (Post | null)[][]  chunks of 1024 by post slot ("p1" is slot 0); null = deleted
 *   roots     number[][]         chunks of post slots of top-level posts, oldest first (timeline pages)
 *   count     running counters   checked by validate(), returned by census()
 *
 * Core and PostBase are what every version shares; a version adds its own fields to posts (v1: likes).
 */
import type { UserId } from '../../contract.ts';
import type { Chunks } from './chunks.ts';
import type { PostId } from './ids.ts';
import type { Shards } from './shards.ts';

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
  users: Chunks<User>;
  handles: Shards;
  sessions: Shards;
  posts: Chunks<P | null>;
  roots: Chunks<number>;
  count: Counts;
}

/** v1 posts carry the ids of the users who like them. */
export interface Post extends PostBase {
  likes: UserId[];
}

export interface State extends Core<Post> {
  count: { users: number; posts: number; likes: number };
}
