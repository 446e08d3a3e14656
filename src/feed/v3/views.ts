/** What v3 clients see: users with their display name, profiles, and posts with mentions resolved. */
import type { UserId } from '../../contract.ts';
import type { PostViewBase } from '../v1/posts.ts';
import { trieGet } from '../lib/trie.ts';
import { findUser } from '../v1/users.ts';
import { reactionCounts, mine } from '../v2/reactions.ts';
import type { Post as V2Post } from '../v2/state.ts';
import { mentionedHandles, tagsOf } from '../lib/rich.ts';
import { followKey, type Emoji, type Post, type State, type User } from './state.ts';

export interface UserView {
  id: UserId;
  handle: string;
  name: string;
}

export interface ProfileView extends UserView {
  bio: string;
  joined: number;
  followers: number;
  following: number;
  /** Whether the user asking follows this person. */
  followed: boolean;
  /** Whether this person follows the user asking. */
  followsYou: boolean;
}

/** v1's PostView fields (the author with a name), v2's reactions, and what v3 adds. */
export interface PostView extends Omit<PostViewBase, 'author'> {
  author: UserView;
  reactions: Partial<Record<Emoji, number>>;
  mine: Emoji[];
  /** When the post was last edited; null if never. */
  edited: number | null;
  /** How many times it was edited (the earlier versions: `history`). */
  edits: number;
  /** The @handles in the text that name a user, each once, in order. */
  mentions: { id: UserId; handle: string }[];
  /** The #tags in the text, lowercased, each once, in order. */
  tags: string[];
}

export function userView(user: User): UserView {
  return { id: user.id, handle: user.handle, name: user.name };
}

export function profileView(state: State, user: User, viewer: UserId | null): ProfileView {
  return {
    ...userView(user),
    bio: user.bio,
    joined: user.joined,
    followers: user.followers,
    following: user.following,
    followed: viewer !== null && trieGet(state.follows, followKey(viewer, user.id)) !== undefined,
    followsYou: viewer !== null && trieGet(state.follows, followKey(user.id, viewer)) !== undefined,
  };
}

/** The users the text mentions, each once, in order (unknown handles are left out). */
export function mentioned(state: State, text: string): User[] {
  const users: User[] = [];
  for (const handle of mentionedHandles(text)) {
    const user = findUser(state, trieGet(state.handles, handle)) as User | undefined;
    if (user !== undefined) users.push(user);
  }
  return users;
}

export function postView(state: State, post: Post, viewer: UserId | null): PostView {
  const author = findUser(state, post.author) as User;
  const edits = post.edits.length;
  return {
    id: post.id,
    author: userView(author),
    text: post.text,
    at: post.at,
    replyTo: post.replyTo,
    replies: post.replies.length,
    reactions: reactionCounts(post as V2Post),
    mine: mine(post as V2Post, viewer),
    edited: edits === 0 ? null : post.edits[edits - 1]!.at,
    edits,
    mentions: mentioned(state, post.text).map((u) => ({ id: u.id, handle: u.handle })),
    tags: tagsOf(post.text),
  };
}
