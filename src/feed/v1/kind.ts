/**
 * What the shared handlers need to know about a version's own post fields. v1 plugs in likes
 * (likes.ts); v2 plugs in reactions (../v2/reactions.ts). Everything else about posts is shared.
 */
import type { UserId } from '../../contract.ts';
import type { PostBase } from './state.ts';

export interface PostKind<P extends PostBase> {
  /** The key in state.count this kind keeps a running total of (v1: "likes"). */
  readonly counter: string;
  /** The version's own post field names (a stored post has exactly the PostBase fields plus these). */
  readonly fields: readonly string[];
  /** The version's own fields of a new post. */
  fresh(): Omit<P, keyof PostBase>;
  /** How many `counter` entities the post holds (subtracted from the total when it is deleted). */
  weight(post: P): number;
  /** The version's own PostView fields, as `viewer` sees them. */
  view(post: P, viewer: UserId | null): Record<string, unknown>;
  /** Report problems with the version's own fields (`report` names the post); return the post's weight. */
  check(post: P, isUser: (id: unknown) => boolean, report: (problem: string) => void): number;
}
