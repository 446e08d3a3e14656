/**
 * Feed v2's state: v1's layout (../v1/state.ts) with posts carrying `reactions` instead of `likes`,
 * and count.reactions instead of count.likes.
 */
import type { UserId } from '../../contract.ts';
import type { Core, PostBase } from '../v1/state.ts';

export type { User } from '../v1/state.ts';

/** The reactions a person can pick, in the order views list them. */
export const EMOJI = ['❤️', '😂', '🎉', '😮', '😢', '👍'] as const;
export type Emoji = (typeof EMOJI)[number];

export interface Post extends PostBase {
  /** Emoji -> ids of the users who reacted with it; an emoji nobody uses is absent (never []). */
  reactions: Partial<Record<Emoji, UserId[]>>;
}

export interface State extends Core<Post> {
  count: { users: number; posts: number; reactions: number };
}
