/**
 * Posts: post, delete, timeline, thread, and the PostView a client sees. Shared by every version; the
 * version's own post fields (v1 likes, v2 reactions) come from its PostKind.
 */
import type { Command, Context, FeedEvent, Outcome, UserId } from '../../contract.ts';
import { refuse } from './errors.ts';
import { postId, postSlot, type PostId } from './ids.ts';
import type { PostKind } from './kind.ts';
import { TIMELINE_DEFAULT, TIMELINE_MAX } from './limits.ts';
import type { Core, PostBase } from './state.ts';
import { textProblem } from './text.ts';
import { update } from './update.ts';
import { findUser, type UserView } from './users.ts';
import { vecGet, vecLength, vecPush, vecSet } from './vec.ts';

export interface PostViewBase {
  id: PostId;
  author: UserView;
  text: string;
  at: number;
  replyTo: PostId | null;
  /** Number of live replies. */
  replies: number;
}

/** The live post with this id, or undefined (unknown id, wrong type, or deleted). */
export function findPost<P extends PostBase>(state: Core<P>, id: unknown): P | undefined {
  const post = vecGet(state.posts, postSlot(id));
  return post === null || post === undefined || post.id !== id ? undefined : post;
}

/** The newest live post, or undefined when there is none. Skips tombstones backwards. */
export function newestPost<P extends PostBase>(state: Core<P>): P | undefined {
  for (let i = vecLength(state.posts) - 1; i >= 0; i--) {
    const post = vecGet(state.posts, i);
    if (post) return post;
  }
  return undefined;
}

export function postHandlers<P extends PostBase>(kind: PostKind<P>) {
  function view(state: Core<P>, post: P, viewer: UserId | null): PostViewBase & Record<string, unknown> {
    const author = findUser(state, post.author);
    return {
      id: post.id,
      author: { id: post.author, handle: author?.handle ?? '' },
      text: post.text,
      at: post.at,
      replyTo: post.replyTo,
      replies: post.replies.length,
      ...kind.view(post, viewer),
    };
  }

  /** post {text, replyTo?}: a new post by the caller; a reply also bumps its parent's reply count. */
  function post<S extends Core<P>>(state: S, command: Command, ctx: Context): Outcome<S> {
    const me = findUser(state, ctx.caller.user);
    if (me === undefined) return refuse('not_joined');
    if (typeof command.text !== 'string') return refuse('bad_request');
    const text = command.text.trim();
    const problem = textProblem(text);
    if (problem !== null) return refuse(problem);
    const replyTo = command.replyTo ?? null;
    let parent: P | undefined;
    if (replyTo !== null) {
      parent = findPost(state, replyTo);
      if (parent === undefined) return refuse('no_such_post');
    }
    const slot = vecLength(state.posts);
    const id = postId(slot);
    const created = {
      id,
      author: me.id,
      text,
      at: ctx.now,
      replyTo: parent === undefined ? null : parent.id,
      replies: [],
      ...kind.fresh(),
    } as PostBase as P;
    const next = update(state, (draft) => {
      vecPush(draft.posts, created);
      if (parent === undefined) vecPush(draft.roots, slot);
      else vecSet(draft.posts, postSlot(parent.id), { ...parent, replies: [...parent.replies, id] });
      draft.count.posts += 1;
    });
    const shown = view(next, created, me.id);
    const events: FeedEvent[] = [{ type: 'post', post: shown }];
    if (parent !== undefined) events.push({ type: 'replied', post: parent.id, replies: parent.replies.length + 1 });
    return { state: next, reply: { post: shown }, events };
  }

  /** delete {post}: the author removes a post. Its replies stay (their replyTo names a deleted post). */
  function remove<S extends Core<P>>(state: S, command: Command, ctx: Context): Outcome<S> {
    const me = findUser(state, ctx.caller.user);
    if (me === undefined) return refuse('not_joined');
    const target = findPost(state, command.post);
    if (target === undefined) return refuse('no_such_post');
    if (target.author !== me.id) return refuse('not_yours');
    const parent = target.replyTo === null ? undefined : findPost(state, target.replyTo);
    const next = update(state, (draft) => {
      vecSet(draft.posts, postSlot(target.id), null);
      draft.count.posts -= 1;
      draft.count[kind.counter] = draft.count[kind.counter]! - kind.weight(target);
      if (parent !== undefined && parent.replies.includes(target.id)) {
        vecSet(draft.posts, postSlot(parent.id), { ...parent, replies: parent.replies.filter((id) => id !== target.id) });
      }
    });
    const events: FeedEvent[] = [{ type: 'delete', post: target.id }];
    if (parent !== undefined) {
      events.push({ type: 'replied', post: parent.id, replies: findPost(next, parent.id)!.replies.length });
    }
    return { state: next, reply: {}, events };
  }

  /**
   * timeline {before?, limit?}: top-level posts, newest first. The cursor is a position in `roots`, so
   * a page costs O(limit + deleted posts skipped), whatever the size of the feed.
   */
  function timeline<S extends Core<P>>(state: S, command: Command, ctx: Context): Outcome<S> {
    const limit = command.limit ?? TIMELINE_DEFAULT;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > TIMELINE_MAX) {
      return refuse('bad_limit');
    }
    const total = vecLength(state.roots);
    let end = total;
    if (command.before !== undefined && command.before !== null) {
      end = parseCursor(command.before, total);
      if (end < 0) return refuse('bad_cursor');
    }
    const posts: ReturnType<typeof view>[] = [];
    let i = end;
    while (i > 0 && posts.length < limit) {
      i -= 1;
      const post = vecGet(state.posts, vecGet(state.roots, i)!);
      if (post) posts.push(view(state, post, ctx.caller.user));
    }
    return { state, reply: { posts, next: i > 0 ? String(i) : null } };
  }

  /** thread {post}: a live post and its live replies, oldest first. */
  function thread<S extends Core<P>>(state: S, command: Command, ctx: Context): Outcome<S> {
    const root = findPost(state, command.post);
    if (root === undefined) return refuse('no_such_post');
    const viewer = ctx.caller.user;
    const replies = [];
    for (const id of root.replies) {
      const reply = findPost(state, id);
      if (reply !== undefined) replies.push(view(state, reply, viewer));
    }
    return { state, reply: { post: view(state, root, viewer), replies } };
  }

  return { view, post, delete: remove, timeline, thread };
}

/** A cursor is the decimal position in `roots` to continue before; -1 when it is not one. */
function parseCursor(cursor: unknown, total: number): number {
  if (typeof cursor !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(cursor)) return -1;
  const n = Number(cursor);
  return n <= total ? n : -1;
}
