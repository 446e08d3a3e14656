/**
 * Feed version 1: users join with a handle, post (and reply), like, delete, and read a paged
 * timeline. docs/FEED.md is the client's reference. Frozen once released (src/feed/released.json).
 */
import type { FeedVersion } from '../../contract.ts';
import { createFeed } from './feed.ts';
import { like, likesKind, unlike } from './likes.ts';
import { postHandlers } from './posts.ts';
import type { Post, State } from './state.ts';
import type { Handler } from './update.ts';
import { join, leave, online, presence, resume } from './users.ts';

export type { Post, State, User } from './state.ts';

const posts = postHandlers<Post>(likesKind);

const handlers: Record<string, Handler<State>> = {
  join,
  resume,
  leave,
  post: posts.post,
  like,
  unlike,
  delete: posts.delete,
  timeline: posts.timeline,
  thread: posts.thread,
  online,
  presence,
};

const feed = createFeed<Post, State>(likesKind, handlers);

export const version = 1;
/** What a client may send; `presence` is the kernel's own and not listed. */
export const commands: readonly string[] = Object.keys(handlers).filter((type) => type !== 'presence');
export const { init, handle, validate, census, sample } = feed;

// the module must satisfy the contract the kernel checks at load time
({ version, commands, init, handle, validate, census, sample }) satisfies FeedVersion<State>;
