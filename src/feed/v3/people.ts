/** People in v3: joining makes a profile; profile, update_profile, follow and unfollow. */
import type { Command, Context, Outcome } from '../../contract.ts';
import { userSlot } from '../v1/ids.ts';
import { textLength } from '../v1/text.ts';
import { trieDelete, trieGet, trieSet } from '../lib/trie.ts';
import { update } from '../v1/update.ts';
import { findUser, join as joinV1, resume as resumeV1 } from '../v1/users.ts';
import { vecGet, vecSet } from '../lib/vec.ts';
import { refuse } from './errors.ts';
import { BIO_MAX, NAME_MAX } from './limits.ts';
import { me, notify } from './notes.ts';
import { followKey, type State, type User } from './state.ts';
import { profileView, userView } from './views.ts';

function isAccepted<S>(out: Outcome<S>): out is Exclude<Outcome<S>, { error: unknown }> {
  return !('error' in out);
}

/** join {handle}: v1's join, then the new user's profile: named by their handle, no bio, no follows. */
export function join(state: State, command: Command, ctx: Context): Outcome<State> {
  const out = joinV1(state, command, ctx);
  if (!isAccepted(out)) return out;
  const slot = userSlot(out.bind);
  const base = vecGet(out.state.users, slot)!;
  const user: User = { id: base.id, handle: base.handle, joined: base.joined, name: base.handle, bio: '', followers: 0, following: 0, inbox: { last: -1, seen: -1, unread: 0 } };
  const next = update(out.state, (draft) => {
    vecSet(draft.users, slot, user);
  });
  const view = userView(user);
  return { state: next, reply: { ...(out.reply as object), user: view }, events: [{ type: 'joined', user: view }], bind: out.bind! };
}

/** resume {token}: as v1, answering with the name too. */
export function resume(state: State, command: Command, ctx: Context): Outcome<State> {
  const out = resumeV1(state, command);
  if (!isAccepted(out)) return out;
  void ctx;
  return { ...out, reply: { user: userView(findUser(state, out.bind) as User) } };
}

/** The user a command names by `user` (an id) or `handle`. */
export function named(state: State, command: Command): User | undefined {
  if (command.user !== undefined) return findUser(state, command.user) as User | undefined;
  if (typeof command.handle === 'string') return findUser(state, trieGet(state.handles, command.handle.toLowerCase())) as User | undefined;
  return undefined;
}

/** profile {user | handle}: the person's profile as the caller sees it. */
export function profile(state: State, command: Command, ctx: Context): Outcome<State> {
  if (command.user === undefined && typeof command.handle !== 'string') return refuse('bad_request');
  const user = named(state, command);
  if (user === undefined) return refuse('no_such_user');
  return { state, reply: { user: profileView(state, user, ctx.caller.user) } };
}

/** update_profile {name?, bio?}: change my display name and/or bio (trimmed). */
export function updateProfile(state: State, command: Command, ctx: Context): Outcome<State> {
  const user = me(state, ctx);
  if (user === undefined) return refuse('not_joined');
  const { name, bio } = command;
  if ((name === undefined && bio === undefined) || (name !== undefined && typeof name !== 'string') || (bio !== undefined && typeof bio !== 'string')) {
    return refuse('bad_request');
  }
  const nextName = name === undefined ? user.name : name.trim();
  const nextBio = bio === undefined ? user.bio : bio.trim();
  if (nextName === '' || textLength(nextName) > NAME_MAX || /[\r\n]/.test(nextName)) return refuse('bad_name');
  if (textLength(nextBio) > BIO_MAX) return refuse('bad_bio');
  const changed: User = { ...user, name: nextName, bio: nextBio };
  const shown = { ...userView(changed), bio: changed.bio };
  if (nextName === user.name && nextBio === user.bio) return { state, reply: { user: shown } };
  const next = update(state, (draft) => {
    vecSet(draft.users, userSlot(user.id), changed);
  });
  return { state: next, reply: { user: shown }, events: [{ type: 'profile', user: shown }] };
}

function setFollow(on: boolean) {
  return function follow(state: State, command: Command, ctx: Context): Outcome<State> {
    const self = me(state, ctx);
    if (self === undefined) return refuse('not_joined');
    if (command.user === undefined && typeof command.handle !== 'string') return refuse('bad_request');
    const them = named(state, command);
    if (them === undefined) return refuse('no_such_user');
    if (them.id === self.id) return refuse('self_follow');
    const key = followKey(self.id, them.id);
    if ((trieGet(state.follows, key) !== undefined) === on) return { state, reply: { user: profileView(state, them, self.id) } };
    const step = on ? 1 : -1;
    let next = update(state, (draft) => {
      if (on) trieSet(draft.follows, key, them.id);
      else trieDelete(draft.follows, key);
      vecSet(draft.users, userSlot(self.id), { ...self, following: self.following + step });
      vecSet(draft.users, userSlot(them.id), { ...them, followers: them.followers + step });
      draft.count.follows += step;
    });
    const events = [{ type: 'follow', by: self.id, user: them.id, on, followers: them.followers + step, following: self.following + step }];
    if (on) {
      const noted = notify(next, [{ type: 'follow', to: them.id, by: self.id }], ctx.now);
      next = noted.state;
      events.push(...(noted.events as typeof events));
    }
    return { state: next, reply: { user: profileView(next, findUser(next, them.id) as User, self.id) }, events };
  };
}

/** follow {user | handle} */
export const follow = setFollow(true);
/** unfollow {user | handle} */
export const unfollow = setFollow(false);
