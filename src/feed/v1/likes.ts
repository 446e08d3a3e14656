/** v1's own post field: `likes`, the ids of the users who like a post. like / unlike are idempotent. */
import type { Command, Context, Outcome, UserId } from '../../contract.ts';
import { refuse } from './errors.ts';
import { postSlot } from './ids.ts';
import type { PostKind } from './kind.ts';
import { findPost } from './posts.ts';
import type { Post, State } from './state.ts';
import { update } from './update.ts';
import { duplicate } from './validate.ts';
import { findUser } from './users.ts';
import { vecSet } from './vec.ts';

export const likesKind: PostKind<Post> = {
  counter: 'likes',
  fields: ['likes'],
  fresh: () => ({ likes: [] }),
  weight: (post) => post.likes.length,
  view: (post, viewer) => ({ likes: post.likes.length, liked: viewer !== null && post.likes.includes(viewer) }),
  check(post, isUser, report) {
    const likes: unknown = post.likes;
    if (!Array.isArray(likes)) {
      report(`likes is not a list`);
      return 0;
    }
    for (const by of likes) if (!isUser(by)) report(`liked by unknown user ${String(by)}`);
    const twice = duplicate(likes);
    if (twice !== undefined) report(`liked twice by ${String(twice)}`);
    return likes.length;
  },
};

function setLike(on: boolean) {
  return function like(state: State, command: Command, ctx: Context): Outcome<State> {
    const me = findUser(state, ctx.caller.user);
    if (me === undefined) return refuse('not_joined');
    const post = findPost(state, command.post);
    if (post === undefined) return refuse('no_such_post');
    if (post.likes.includes(me.id) === on) {
      return { state, reply: { post: post.id, likes: post.likes.length, liked: on } };
    }
    const likes = on ? [...post.likes, me.id] : post.likes.filter((id) => id !== me.id);
    const next = update(state, (draft) => {
      vecSet(draft.posts, postSlot(post.id), { ...post, likes });
      draft.count.likes += on ? 1 : -1;
    });
    return {
      state: next,
      reply: { post: post.id, likes: likes.length, liked: on },
      events: [{ type: 'like', post: post.id, likes: likes.length, by: me.id satisfies UserId, on }],
    };
  };
}

/** like {post} */
export const like = setLike(true);
/** unlike {post} */
export const unlike = setLike(false);
