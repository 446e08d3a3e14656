/**
 * Feed version 2: likes become emoji reactions (react / unreact). Everything else is v1's code, reused
 * by import; like / unlike from v1 clients are answered as ❤️. docs/FEED.md is the client's reference.
 */
import type { FeedVersion } from '../../contract.ts';
import { createFeed } from '../v1/feed.ts';
import { postHandlers } from '../v1/posts.ts';
import type { Handler } from '../v1/update.ts';
import { join, leave, online, presence, resume } from '../v1/users.ts';
import { like, react, reactionsKind, unlike, unreact } from './reactions.ts';
import type { Post, State } from './state.ts';

export type { Emoji, Post, State, User } from './state.ts';
export { EMOJI } from './state.ts';

const posts = postHandlers<Post>(reactionsKind);

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
  react,
  unreact,
  presence,
};

const feed = createFeed<Post, State>(reactionsKind, handlers);

export const version = 2;
/** What a client may send; `presence` is the kernel's own and not listed. */
export const commands: readonly string[] = Object.keys(handlers).filter((type) => type !== 'presence');
export const { init, handle, validate, census, sample } = feed;

({ version, commands, init, handle, validate, census, sample }) satisfies FeedVersion<State>;
