/**
 * v2's own post field: `reactions`, emoji -> the users who reacted with it. react / unreact are
 * idempotent; a v1 client's like / unlike (still in flight during an upgrade) are ❤️ react / unreact.
 */
import type { Command, Context, Outcome, UserId } from '../../contract.ts';
import { postSlot } from '../v1/ids.ts';
import type { PostKind } from '../v1/kind.ts';
import { findPost } from '../v1/posts.ts';
import { update } from '../v1/update.ts';
import { findUser } from '../v1/users.ts';
import { duplicate, isPlainObject } from '../v1/validate.ts';
import { vecSet } from '../v1/vec.ts';
import { refuse } from './errors.ts';
import { EMOJI, type Emoji, type Post, type State } from './state.ts';

export const HEART: Emoji = '❤️';

export function isEmoji(value: unknown): value is Emoji {
  return (EMOJI as readonly unknown[]).includes(value);
}

/** Emoji -> count, in EMOJI order, emoji nobody used left out. */
export function reactionCounts(post: Post): Partial<Record<Emoji, number>> {
  const counts: Partial<Record<Emoji, number>> = {};
  for (const emoji of EMOJI) {
    const by = post.reactions[emoji];
    if (by !== undefined) counts[emoji] = by.length;
  }
  return counts;
}

/** The emoji `viewer` reacted with, in EMOJI order. */
export function mine(post: Post, viewer: UserId | null): Emoji[] {
  if (viewer === null) return [];
  return EMOJI.filter((emoji) => post.reactions[emoji]?.includes(viewer) === true);
}

export const reactionsKind: PostKind<Post> = {
  counter: 'reactions',
  fields: ['reactions'],
  fresh: () => ({ reactions: {} }),
  weight(post) {
    let n = 0;
    for (const emoji in post.reactions) n += post.reactions[emoji as Emoji]!.length;
    return n;
  },
  view: (post, viewer) => ({ reactions: reactionCounts(post), mine: mine(post, viewer) }),
  check(post, isUser, report) {
    const reactions: unknown = post.reactions;
    if (!isPlainObject(reactions)) {
      report('reactions is not a plain record');
      return 0;
    }
    let n = 0;
    for (const emoji in reactions) {
      const by = reactions[emoji];
      if (!isEmoji(emoji)) report(`reactions has unknown emoji ${emoji}`);
      if (!Array.isArray(by) || by.length === 0) {
        report(`reactions ${emoji} is not a non-empty list`);
        continue;
      }
      n += by.length;
      for (const id of by) if (!isUser(id)) report(`reacted ${emoji} by unknown user ${String(id)}`);
      const twice = duplicate(by);
      if (twice !== undefined) report(`reacted ${emoji} twice by ${String(twice)}`);
    }
    return n;
  },
};

function setReaction(on: boolean, fixed?: Emoji) {
  return function react(state: State, command: Command, ctx: Context): Outcome<State> {
    const me = findUser(state, ctx.caller.user);
    if (me === undefined) return refuse('not_joined');
    const post = findPost(state, command.post);
    if (post === undefined) return refuse('no_such_post');
    const emoji = fixed ?? command.emoji;
    if (!isEmoji(emoji)) return refuse('bad_emoji');
    if ((post.reactions[emoji]?.includes(me.id) ?? false) === on) {
      return { state, reply: replyFor(post, me.id, fixed) };
    }
    const changed: Post = { ...post, reactions: toggled(post.reactions, emoji, me.id, on) };
    const next = update(state, (draft) => {
      vecSet(draft.posts, postSlot(post.id), changed);
      draft.count.reactions += on ? 1 : -1;
    });
    const counts = reactionCounts(changed);
    return {
      state: next,
      reply: replyFor(changed, me.id, fixed),
      events: [{ type: 'react', post: post.id, reactions: counts, by: me.id, emoji, on }],
    };
  };
}

/** A copy of `reactions` with `user` added to (or removed from) `emoji`; an emoji left with nobody goes.
 *  Keys keep their order; a new emoji comes last. */
function toggled(reactions: Post['reactions'], emoji: Emoji, user: UserId, on: boolean): Post['reactions'] {
  const out: Post['reactions'] = {};
  for (const key in reactions) {
    const by = reactions[key as Emoji]!;
    if (key !== emoji) out[key as Emoji] = by;
    else if (on) out[emoji] = [...by, user];
    else if (by.length > 1) out[emoji] = by.filter((id) => id !== user);
  }
  if (on && reactions[emoji] === undefined) out[emoji] = [user];
  return out;
}

/** The reply to react/unreact; like/unlike (a v1 client) also get v1's {likes, liked}. */
function replyFor(post: Post, me: UserId, legacy: Emoji | undefined) {
  const reply = { post: post.id, reactions: reactionCounts(post), mine: mine(post, me) };
  if (legacy === undefined) return reply;
  return { ...reply, likes: post.reactions[HEART]?.length ?? 0, liked: reply.mine.includes(HEART) };
}

/** react {post, emoji} */
export const react = setReaction(true);
/** unreact {post, emoji} */
export const unreact = setReaction(false);
/** like {post} from a v1 client: ❤️ react */
export const like = setReaction(true, HEART);
/** unlike {post} from a v1 client: ❤️ unreact */
export const unlike = setReaction(false, HEART);
