/** Who is who: join, resume, leave, online, and the kernel's presence notices. Shared by every version. */
import type { Command, Context, Outcome, UserId } from '../../contract.ts';
import { refuse } from './errors.ts';
import { userId, userSlot } from './ids.ts';
import { HANDLE } from './limits.ts';
import type { Core, User } from './state.ts';
import { trieDelete, trieGet, trieSet } from './trie.ts';
import { update } from './update.ts';
import { vecGet, vecLength, vecPush } from './vec.ts';

export interface UserView {
  id: UserId;
  handle: string;
}

export function findUser(state: Core<any>, id: unknown): User | undefined {
  const user = vecGet(state.users, userSlot(id));
  return user !== undefined && user.id === id ? user : undefined;
}

export function userView(user: User): UserView {
  return { id: user.id, handle: user.handle };
}

/** join {handle}: a new user, bound to the calling connection, with a fresh session token. */
export function join<S extends Core<any>>(state: S, command: Command, ctx: Context): Outcome<S> {
  const handle = command.handle;
  if (typeof handle !== 'string' || !HANDLE.test(handle)) return refuse('bad_handle');
  const key = handle.toLowerCase();
  if (trieGet(state.handles, key) !== undefined) return refuse('handle_taken');
  const id = userId(vecLength(state.users));
  const token = ctx.token();
  const user: User = { id, handle, joined: ctx.now };
  const next = update(state, (draft) => {
    vecPush(draft.users, user);
    trieSet(draft.handles, key, id);
    trieSet(draft.sessions, token, id);
    draft.count.users += 1;
  });
  const view = userView(user);
  return { state: next, reply: { user: view, token }, events: [{ type: 'joined', user: view }], bind: id };
}

/** resume {token}: bind the connection to the user the token was issued to. */
export function resume<S extends Core<any>>(state: S, command: Command): Outcome<S> {
  const token = command.token;
  if (typeof token !== 'string') return refuse('bad_request');
  const user = findUser(state, trieGet(state.sessions, token));
  if (user === undefined) return refuse('bad_session');
  return { state, reply: { user: userView(user) }, bind: user.id };
}

/**
 * leave {token?}: unbind the connection. The handler cannot see which token a connection resumed with,
 * so a client that wants its session forgotten sends the token (only the caller's own token is revoked).
 */
export function leave<S extends Core<any>>(state: S, command: Command, ctx: Context): Outcome<S> {
  const token = command.token;
  if (token !== undefined && typeof token !== 'string') return refuse('bad_request');
  const me = ctx.caller.user;
  let next = state;
  if (typeof token === 'string' && me !== null && trieGet(state.sessions, token) === me) {
    next = update(state, (draft) => {
      trieDelete(draft.sessions, token);
    });
  }
  return { state: next, reply: {}, bind: null };
}

/** online {}: who has a bound connection right now. */
export function online<S extends Core<any>>(state: S, _command: Command, ctx: Context): Outcome<S> {
  const users: UserView[] = [];
  for (const id of ctx.online) {
    const user = findUser(state, id);
    if (user !== undefined) users.push(userView(user));
  }
  return { state, reply: { users } };
}

/**
 * presence {user?, online}: sent by the kernel (never a socket) when a user's first connection binds
 * or the last one goes. The user is `command.user`, else the caller's user. State is unchanged.
 */
export function presence<S extends Core<any>>(state: S, command: Command, ctx: Context): Outcome<S> {
  if (!ctx.caller.system) return refuse('system_only');
  if (typeof command.online !== 'boolean') return refuse('bad_request');
  const user = findUser(state, command.user ?? ctx.caller.user);
  if (user === undefined) return refuse('no_such_user');
  return { state, events: [{ type: 'presence', user: userView(user), online: command.online }] };
}
