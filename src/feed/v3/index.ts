/**
 * Feed version 3: a place people stay. Profiles (a display name and a bio), follows and a home
 * timeline, @mentions and #tags, notifications addressed to one person, whole conversations (replies to
 * replies), and edits within an hour with the earlier versions kept. Everything of v2 stays, reused by
 * import. docs/FEED.md is the client's reference; migrations/002-v2-to-v3.ts brings a v2 state here.
 */
import { freeze } from 'immer';
import type { Command, Context, FeedVersion, Outcome, Sample } from '../../contract.ts';
import { refuse as refuseV1 } from '../v1/errors.ts';
import { findPost, newestPost } from '../v1/posts.ts';
import { emptyTrie } from '../lib/trie.ts';
import type { Handler } from '../v1/update.ts';
import { leave, online, presence } from '../v1/users.ts';
import { emptyVec } from '../lib/vec.ts';
import { shape } from './shape.ts';
import { markRead, notifications } from './notes.ts';
import { follow, join, profile, resume, unfollow, updateProfile } from './people.ts';
import { context, edit, history, home, like, post, react, remove, tag, thread, timeline, unlike, unreact, userPosts } from './posts.ts';
import type { State } from './state.ts';
import { validate } from './validate.ts';

export type { Emoji, Notification, Post, State, User } from './state.ts';
export { EMOJI } from './state.ts';

const handlers: Record<string, Handler<State>> = {
  join,
  resume,
  leave: leave as Handler<State>,
  post,
  like,
  unlike,
  react,
  unreact,
  delete: remove,
  edit,
  history,
  timeline,
  home,
  user_posts: userPosts,
  tag,
  thread,
  context,
  profile,
  update_profile: updateProfile,
  follow,
  unfollow,
  notifications,
  mark_read: markRead,
  online: online as Handler<State>,
  presence: presence as Handler<State>,
};

export const version = 3;
/** What a client may send; `presence` is the kernel's own and not listed. */
export const commands: readonly string[] = Object.keys(handlers).filter((type) => type !== 'presence');

export { shape } from './shape.ts';

export function init(): State {
  const state: State = {
    users: emptyVec(),
    handles: emptyTrie(),
    sessions: emptyTrie(),
    posts: emptyVec(),
    roots: emptyVec(),
    follows: emptyTrie(),
    notifications: emptyVec(),
    count: { users: 0, posts: 0, reactions: 0, follows: 0, notifications: 0, edits: 0 },
  };
  return freeze(state, true);
}

export function handle(state: State, command: Command, ctx: Context): Outcome<State> {
  if (!Object.hasOwn(handlers, command.type)) return refuseV1('unknown_command');
  return handlers[command.type]!(state, command, ctx);
}

export { validate };

/** Running counters: O(1). */
export function census(state: State): Readonly<Record<string, number>> {
  const { users, posts, reactions, follows, notifications, edits } = state.count;
  return { users, posts, reactions, follows, notifications, edits };
}

export function sample(state: State, id?: string): Sample | null {
  const post = id === undefined ? newestPost(state) : findPost(state, id);
  return post === undefined ? null : { kind: 'post', id: post.id, data: post };
}

({ version, commands, init, handle, validate, census, sample, shape }) satisfies FeedVersion<State>;
