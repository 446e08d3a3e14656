/**
 * Notifications: mention, reply, reaction, follow. Each is stored once in `notifications` and linked
 * into its addressee's list (user.inbox.last, then `prev`), and delivered live only to that person (an
 * event with `to: [them]`). mark_read reads them all; the unread count is a running counter.
 */
import type { Command, Context, FeedEvent, Outcome, UserId } from '../../contract.ts';
import { refuse as refuseV1 } from '../v1/errors.ts';
import { userSlot } from '../v1/ids.ts';
import { update } from '../v1/update.ts';
import { findPost } from '../v1/posts.ts';
import { findUser } from '../v1/users.ts';
import { vecGet, vecLength, vecPush, vecSet } from '../lib/vec.ts';
import { cursorAt, limitOf } from '../lib/scan.ts';
import { NOTIFICATIONS_DEFAULT, NOTIFICATIONS_MAX } from './limits.ts';
import { notificationId, type Emoji, type Notification, type NotificationType, type State, type User } from './state.ts';
import { postView, userView, type PostView, type UserView } from './views.ts';

export interface NotificationView {
  id: string;
  type: NotificationType;
  by: UserView;
  /** The post as the addressee sees it; null for a follow or when the post was deleted since. */
  post: PostView | null;
  emoji: Emoji | null;
  at: number;
  read: boolean;
}

export interface Notice {
  type: NotificationType;
  to: UserId;
  by: UserId;
  post?: string;
  emoji?: Emoji;
}

export function me(state: State, ctx: Context): User | undefined {
  return findUser(state, ctx.caller.user) as User | undefined;
}

export function notificationView(state: State, note: Notification, slot: number): NotificationView {
  const to = findUser(state, note.to) as User;
  const by = findUser(state, note.by) as User;
  const post = note.post === null ? undefined : findPost(state, note.post);
  return {
    id: note.id,
    type: note.type,
    by: userView(by),
    post: post === undefined ? null : postView(state, post, note.to),
    emoji: note.emoji,
    at: note.at,
    read: slot <= to.inbox.seen,
  };
}

/**
 * Store the notices (none to oneself; a user named twice gets the first notice only) and the events
 * that deliver them. Returns the state unchanged and no events when there is nothing to send.
 */
export function notify(state: State, notices: readonly Notice[], now: number): { state: State; events: FeedEvent[] } {
  const seen = new Set<UserId>();
  const wanted = notices.filter((n) => n.to !== n.by && !seen.has(n.to) && (seen.add(n.to), findUser(state, n.to) !== undefined));
  if (wanted.length === 0) return { state, events: [] };
  const slots: number[] = [];
  const next = update(state, (draft) => {
    for (const n of wanted) {
      const slot = vecLength(draft.notifications);
      const user = vecGet(draft.users, userSlot(n.to))!;
      const note: Notification = { id: notificationId(slot), type: n.type, to: n.to, by: n.by, post: n.post ?? null, emoji: n.emoji ?? null, at: now, prev: user.inbox.last };
      vecPush(draft.notifications, note);
      vecSet(draft.users, userSlot(n.to), { ...user, inbox: { ...user.inbox, last: slot, unread: user.inbox.unread + 1 } });
      draft.count.notifications += 1;
      slots.push(slot);
    }
  });
  const events: FeedEvent[] = slots.map((slot) => {
    const note = vecGet(next.notifications, slot)!;
    const to = findUser(next, note.to) as User;
    return { type: 'notification', to: [note.to], notification: notificationView(next, note, slot), unread: to.inbox.unread };
  });
  return { state: next, events };
}

/** notifications {before?, limit?}: mine, newest first; `unread` is how many are unread. */
export function notifications(state: State, command: Command, ctx: Context): Outcome<State> {
  const user = me(state, ctx);
  if (user === undefined) return refuseV1('not_joined');
  const limit = limitOf(command.limit, NOTIFICATIONS_DEFAULT, NOTIFICATIONS_MAX);
  if (limit < 0) return refuseV1('bad_limit');
  let slot = user.inbox.last;
  if (command.before !== undefined && command.before !== null) {
    const at = cursorAt(command.before, vecLength(state.notifications) - 1);
    if (at < 0 || vecGet(state.notifications, at)?.to !== user.id) return refuseV1('bad_cursor');
    slot = at;
  }
  const list: NotificationView[] = [];
  while (slot >= 0 && list.length < limit) {
    const note = vecGet(state.notifications, slot)!;
    list.push(notificationView(state, note, slot));
    slot = note.prev;
  }
  return { state, reply: { notifications: list, next: slot >= 0 ? String(slot) : null, unread: user.inbox.unread } };
}

/** mark_read {}: every notification of mine is read. */
export function markRead(state: State, _command: Command, ctx: Context): Outcome<State> {
  const user = me(state, ctx);
  if (user === undefined) return refuseV1('not_joined');
  if (user.inbox.unread === 0 && user.inbox.seen === user.inbox.last) return { state, reply: { unread: 0 } };
  const next = update(state, (draft) => {
    vecSet(draft.users, userSlot(user.id), { ...user, inbox: { ...user.inbox, seen: user.inbox.last, unread: 0 } });
  });
  return { state: next, reply: { unread: 0 }, events: [{ type: 'read', to: [user.id], unread: 0 }] };
}
