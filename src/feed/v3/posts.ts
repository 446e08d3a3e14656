/**
 * Posts in v3. Posting and deleting are v1's shared handlers with v3's post kind, wrapped: a post
 * notifies the people it mentions and the author it replies to; deleting takes the post's edits out of
 * the count. New: edit and history; timelines (everyone, home, a person's, a tag) with one cursor
 * scheme; context, the whole conversation around a post. Reactions are v2's, wrapped to notify.
 */
import type { Command, Context, FeedEvent, Outcome } from '../../contract.ts';
import { refuse as refuseV1 } from '../v1/errors.ts';
import { postSlot } from '../v1/ids.ts';
import { TIMELINE_DEFAULT, TIMELINE_MAX } from '../v1/limits.ts';
import { findPost, postHandlers } from '../v1/posts.ts';
import { textProblem } from '../v1/text.ts';
import { trieGet } from '../lib/trie.ts';
import type { Handler } from '../v1/update.ts';
import { update } from '../v1/update.ts';
import { vecLength, vecSet, type VecLike } from '../lib/vec.ts';
import { like as likeV2, react as reactV2, unlike as unlikeV2, unreact as unreactV2 } from '../v2/reactions.ts';
import type { State as V2State } from '../v2/state.ts';
import { isTag, tagsOf } from '../lib/rich.ts';
import { cursorAt, limitOf, scanBack } from '../lib/scan.ts';
import { refuse } from './errors.ts';
import { postKind } from './kind.ts';
import { DESCENDANTS_MAX, EDIT_WINDOW_MS, EDITS_MAX, SCAN_MAX } from './limits.ts';
import { me, notify, type Notice } from './notes.ts';
import { named } from './people.ts';
import { followKey, type Emoji, type Post, type State } from './state.ts';
import { mentioned, postView, type PostView } from './views.ts';

const shared = postHandlers<Post>(postKind);

function accepted<S>(out: Outcome<S>): out is Exclude<Outcome<S>, { error: unknown }> {
  return !('error' in out);
}

/** post {text, replyTo?}: v1's post; then a reply notifies the parent's author, a mention the person. */
export function post(state: State, command: Command, ctx: Context): Outcome<State> {
  const out = shared.post(state, command, ctx);
  if (!accepted(out)) return out;
  const id = (out.reply as { post: { id: string } }).post.id;
  const created = findPost(out.state, id)!;
  const shown = postView(out.state, created, created.author);
  const notices: Notice[] = [];
  const parent = created.replyTo === null ? undefined : findPost(out.state, created.replyTo);
  if (parent !== undefined) notices.push({ type: 'reply', to: parent.author, by: created.author, post: id });
  for (const user of mentioned(out.state, created.text)) notices.push({ type: 'mention', to: user.id, by: created.author, post: id });
  const noted = notify(out.state, notices, ctx.now);
  const events: FeedEvent[] = (out.events ?? []).map((e) => (e.type === 'post' ? { type: 'post', post: shown } : e));
  return { state: noted.state, reply: { post: shown }, events: [...events, ...noted.events] };
}

/** delete {post}: v1's delete; the post's earlier versions go with it. */
export function remove(state: State, command: Command, ctx: Context): Outcome<State> {
  const target = findPost(state, command.post);
  const out = shared.delete(state, command, ctx);
  if (!accepted(out) || target === undefined || target.edits.length === 0) return out;
  const next = update(out.state, (draft) => {
    draft.count.edits -= target.edits.length;
  });
  return { ...out, state: next };
}

/** edit {post, text}: my post, within the hour after posting, at most EDITS_MAX times. */
export function edit(state: State, command: Command, ctx: Context): Outcome<State> {
  const user = me(state, ctx);
  if (user === undefined) return refuse('not_joined');
  const target = findPost(state, command.post);
  if (target === undefined) return refuse('no_such_post');
  if (target.author !== user.id) return refuse('not_your_post');
  if (typeof command.text !== 'string') return refuse('bad_request');
  const text = command.text.trim();
  const problem = textProblem(text);
  if (problem !== null) return refuse(problem);
  if (text === target.text) return { state, reply: { post: postView(state, target, user.id) } };
  if (ctx.now - target.at > EDIT_WINDOW_MS) return refuse('edit_window');
  if (target.edits.length >= EDITS_MAX) return refuse('too_many_edits');
  const changed: Post = { ...target, text, edits: [...target.edits, { text: target.text, at: ctx.now }] };
  const next = update(state, (draft) => {
    vecSet(draft.posts, postSlot(target.id), changed);
    draft.count.edits += 1;
  });
  const shown = postView(next, changed, user.id);
  return { state: next, reply: { post: shown }, events: [{ type: 'edit', post: shown }] };
}

/** history {post}: every version of a post's text, oldest first; the last is the current one. */
export function history(state: State, command: Command): Outcome<State> {
  const target = findPost(state, command.post);
  if (target === undefined) return refuse('no_such_post');
  const versions = target.edits.map((e, k) => ({ text: e.text, at: k === 0 ? target.at : target.edits[k - 1]!.at }));
  const n = target.edits.length;
  versions.push({ text: target.text, at: n === 0 ? target.at : target.edits[n - 1]!.at });
  return { state, reply: { post: target.id, versions } };
}

/** A page of posts from `list` (positions in roots or posts), newest first. */
function page(state: State, command: Command, ctx: Context, list: 'roots' | 'posts', budget: number, keep: (p: Post) => boolean): Outcome<State> {
  const limit = limitOf(command.limit, TIMELINE_DEFAULT, TIMELINE_MAX);
  if (limit < 0) return refuseV1('bad_limit');
  const v: VecLike<unknown> = list === 'roots' ? state.roots : state.posts;
  const end = cursorAt(command.before, vecLength(v));
  if (end < 0) return refuseV1('bad_cursor');
  const viewer = ctx.caller.user;
  const { items, next } = scanBack<unknown, PostView>(v, end, limit, budget, (entry) => {
    const p = list === 'roots' ? findPost(state, `p${((entry as number) + 1).toString(36)}`) : (entry as Post | null);
    return p && keep(p) ? postView(state, p, viewer) : undefined;
  });
  return { state, reply: { posts: items, next } };
}

/** timeline {before?, limit?}: everyone's top-level posts (as v1, in v3's PostView). */
export function timeline(state: State, command: Command, ctx: Context): Outcome<State> {
  return page(state, command, ctx, 'roots', Number.MAX_SAFE_INTEGER, () => true);
}

/** home {before?, limit?}: top-level posts by me and the people I follow. */
export function home(state: State, command: Command, ctx: Context): Outcome<State> {
  const user = me(state, ctx);
  if (user === undefined) return refuse('not_joined');
  return page(state, command, ctx, 'roots', SCAN_MAX, (p) => p.author === user.id || trieGet(state.follows, followKey(user.id, p.author)) !== undefined);
}

/** user_posts {user | handle, before?, limit?}: a person's posts and replies. */
export function userPosts(state: State, command: Command, ctx: Context): Outcome<State> {
  if (command.user === undefined && typeof command.handle !== 'string') return refuse('bad_request');
  const user = named(state, command);
  if (user === undefined) return refuse('no_such_user');
  return page(state, command, ctx, 'posts', SCAN_MAX, (p) => p.author === user.id);
}

/** tag {tag, before?, limit?}: posts and replies with #tag (any case). */
export function tag(state: State, command: Command, ctx: Context): Outcome<State> {
  if (!isTag(command.tag)) return refuse('bad_tag');
  const wanted = command.tag.toLowerCase();
  const needle = '#' + wanted;
  return page(state, command, ctx, 'posts', SCAN_MAX, (p) => p.text.toLowerCase().includes(needle) && tagsOf(p.text).includes(wanted));
}

/** thread {post}: a post and its direct replies, oldest first (as v1). */
export function thread(state: State, command: Command, ctx: Context): Outcome<State> {
  const root = findPost(state, command.post);
  if (root === undefined) return refuse('no_such_post');
  const viewer = ctx.caller.user;
  const replies: PostView[] = [];
  for (const id of root.replies) {
    const reply = findPost(state, id);
    if (reply !== undefined) replies.push(postView(state, reply, viewer));
  }
  return { state, reply: { post: postView(state, root, viewer), replies } };
}

/**
 * context {post}: the whole conversation: the posts it replies to (oldest first, up to a deleted one),
 * the post, and every reply below it, replies to replies included, depth first, oldest first.
 */
export function context(state: State, command: Command, ctx: Context): Outcome<State> {
  const focus = findPost(state, command.post);
  if (focus === undefined) return refuse('no_such_post');
  const viewer = ctx.caller.user;
  const ancestors: PostView[] = [];
  let up = focus;
  while (up.replyTo !== null && ancestors.length < DESCENDANTS_MAX) {
    const parent = findPost(state, up.replyTo);
    if (parent === undefined) break;
    ancestors.unshift(postView(state, parent, viewer));
    up = parent;
  }
  const descendants: PostView[] = [];
  const stack = [...focus.replies].reverse();
  while (stack.length > 0 && descendants.length < DESCENDANTS_MAX) {
    const reply = findPost(state, stack.pop());
    if (reply === undefined) continue;
    descendants.push(postView(state, reply, viewer));
    for (let i = reply.replies.length - 1; i >= 0; i--) stack.push(reply.replies[i]!);
  }
  return { state, reply: { ancestors, post: postView(state, focus, viewer), descendants, more: stack.length > 0 } };
}

/** v2's reaction handlers, and a notice to the author when someone else adds a reaction. */
function notifying(handler: Handler<V2State>): Handler<State> {
  return (state, command, ctx) => {
    const out = handler(state as unknown as V2State, command, ctx) as unknown as Outcome<State>;
    if (!accepted(out)) return out;
    const event = out.events?.[0];
    if (event?.type !== 'react' || event.on !== true) return out;
    const target = findPost(out.state, event.post)!;
    const noted = notify(out.state, [{ type: 'reaction', to: target.author, by: event.by as string, post: target.id, emoji: event.emoji as Emoji }], ctx.now);
    return { ...out, state: noted.state, events: [...(out.events ?? []), ...noted.events] };
  };
}

export const react = notifying(reactV2);
export const unreact = notifying(unreactV2);
export const like = notifying(likeV2);
export const unlike = notifying(unlikeV2);
