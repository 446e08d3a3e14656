/**
 * validate() for v3: v1's validateCore over the shared part (users seen as v1 users, v3's post kind
 * checking reactions and edits), then what v3 adds: profiles, the follow index against the follow
 * counts, every notification and each user's list of them, and the counters. O(n); no problem quotes
 * a session token.
 */
import { isEmoji } from '../v2/reactions.ts';
import { postSlot, userId, userSlot } from '../v1/ids.ts';
import { textLength } from '../v1/text.ts';
import { trieProblems, trieSize } from '../lib/trie.ts';
import { isPlainObject, MAX_PROBLEMS, validateCore } from '../v1/validate.ts';
import { vecForEach, vecGet, vecLength, vecMap, vecProblem } from '../lib/vec.ts';
import { editsKind } from './kind.ts';
import { BIO_MAX, NAME_MAX } from './limits.ts';
import { notificationId, type Notification, type State, type User } from './state.ts';

const STATE_KEYS = ['users', 'handles', 'sessions', 'posts', 'roots', 'follows', 'notifications', 'count'];
const USER_KEYS = ['id', 'handle', 'joined', 'name', 'bio', 'followers', 'following', 'inbox'];
const NOTE_KEYS = ['id', 'type', 'to', 'by', 'post', 'emoji', 'at', 'prev'];
const COUNT_KEYS = ['users', 'posts', 'reactions', 'follows', 'notifications', 'edits'];
const TYPES = ['mention', 'reply', 'reaction', 'follow'];

function exactly(value: unknown, keys: readonly string[]): value is Record<string, unknown> {
  if (!isPlainObject(value)) return false;
  let n = 0;
  for (const key in value) {
    if (!keys.includes(key)) return false;
    n++;
  }
  return n === keys.length;
}

const count = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;

export function validate(state: State): readonly string[] {
  const problems = validateInto(state);
  return problems.length > MAX_PROBLEMS ? [...problems.slice(0, MAX_PROBLEMS), `... and ${problems.length - MAX_PROBLEMS} more problems`] : problems;
}

function validateInto(state: State): string[] {
  if (!exactly(state, STATE_KEYS)) return [`state: not a plain object with exactly ${STATE_KEYS.join(', ')}`];
  const problems: string[] = [];
  for (const name of ['users', 'notifications'] as const) {
    const problem = vecProblem(state[name]);
    if (problem !== null) problems.push(`${name}: ${problem}`);
  }
  if (!exactly(state.count, COUNT_KEYS)) problems.push(`count: not {${COUNT_KEYS.join(', ')}}`);
  if (problems.length > 0) return problems;

  // ---- the shared part, as v1 checks it
  let edits = 0;
  const core = {
    users: vecMap(state.users, (u) => (isPlainObject(u) ? { id: u.id, handle: u.handle, joined: u.joined } : u)),
    handles: state.handles,
    sessions: state.sessions,
    posts: state.posts,
    roots: state.roots,
    count: { users: state.count.users, posts: state.count.posts, reactions: state.count.reactions },
  };
  problems.push(...validateCore(core as never, editsKind((n) => (edits += n))));

  // ---- profiles
  const users = vecLength(state.users);
  const isUser = (id: unknown): boolean => {
    const slot = userSlot(id);
    return slot >= 0 && slot < users;
  };
  vecForEach(state.users, (user: unknown, i) => {
    const where = `user ${userId(i)}`;
    if (!exactly(user, USER_KEYS)) return void problems.push(`${where}: not a plain {${USER_KEYS.join(', ')}}`);
    const u = user as unknown as User;
    if (typeof u.name !== 'string' || u.name.trim() !== u.name || u.name === '' || textLength(u.name) > NAME_MAX || /[\r\n]/.test(u.name)) problems.push(`${where}: bad name`);
    if (typeof u.bio !== 'string' || u.bio.trim() !== u.bio || textLength(u.bio) > BIO_MAX) problems.push(`${where}: bad bio`);
    if (!count(u.followers) || !count(u.following)) problems.push(`${where}: followers and following are not counts`);
    if (!exactly(u.inbox, ['last', 'seen', 'unread']) || !Number.isSafeInteger(u.inbox.last) || !Number.isSafeInteger(u.inbox.seen) || !count(u.inbox.unread)) {
      problems.push(`${where}: inbox is not {last, seen, unread}`);
    }
  });
  if (problems.length > 0) return problems;

  // ---- follows: "a>b" -> b, both users, a != b; the counts on users agree
  const followers = new Int32Array(users);
  const following = new Int32Array(users);
  const followsOk = trieProblems(state.follows, (p) => void problems.push(`follows: ${p}`), (key, value) => {
    const [a, b, extra] = key.split('>');
    if (extra !== undefined || !isUser(a) || !isUser(b) || a === b || value !== b) return void problems.push(`follows: ${key} -> ${value} is not "follower>followee" -> followee`);
    following[userSlot(a)]! += 1;
    followers[userSlot(b)]! += 1;
  });
  if (followsOk) {
    vecForEach(state.users, (u, i) => {
      if (u.followers !== followers[i] || u.following !== following[i]) {
        problems.push(`user ${u.id}: ${u.followers} followers and ${u.following} following, the follow index has ${followers[i]} and ${following[i]}`);
      }
    });
  }

  // ---- notifications: well formed, each linked after the previous one to the same user
  const last = new Int32Array(users).fill(-1);
  const unread = new Int32Array(users);
  const posts = vecLength(state.posts);
  vecForEach(state.notifications, (note: unknown, i) => {
    const where = `notification ${notificationId(i)}`;
    if (!exactly(note, NOTE_KEYS)) return void problems.push(`${where}: not a plain {${NOTE_KEYS.join(', ')}}`);
    const n = note as unknown as Notification;
    if (n.id !== notificationId(i)) problems.push(`${where}: stored with id ${String(n.id)}`);
    if (!TYPES.includes(n.type)) problems.push(`${where}: unknown type ${String(n.type)}`);
    if (!isUser(n.to) || !isUser(n.by) || n.to === n.by) return void problems.push(`${where}: from ${String(n.by)} to ${String(n.to)}`);
    const postOk = n.type === 'follow' ? n.post === null : postSlot(n.post) >= 0 && postSlot(n.post) < posts;
    if (!postOk) problems.push(`${where}: post ${String(n.post)} does not fit a ${n.type}`);
    if (n.type === 'reaction' ? !isEmoji(n.emoji) : n.emoji !== null) problems.push(`${where}: emoji ${String(n.emoji)} does not fit a ${n.type}`);
    if (typeof n.at !== 'number' || !Number.isFinite(n.at)) problems.push(`${where}: at is not a finite number`);
    const slot = userSlot(n.to);
    if (n.prev !== last[slot]) problems.push(`${where}: prev is ${n.prev}, but ${n.to}'s previous notification is ${last[slot]}`);
    last[slot] = i;
    const seen = vecGet(state.users, slot)!.inbox.seen;
    if (i > seen) unread[slot]! += 1;
  });
  vecForEach(state.users, (u, i) => {
    const { inbox } = u;
    if (inbox.last !== last[i]) problems.push(`user ${u.id}: inbox.last is ${inbox.last}, the newest notification to them is ${last[i]}`);
    if (inbox.seen !== -1 && vecGet(state.notifications, inbox.seen)?.to !== u.id) problems.push(`user ${u.id}: inbox.seen ${inbox.seen} is not one of their notifications`);
    if (inbox.unread !== unread[i]) problems.push(`user ${u.id}: inbox.unread is ${inbox.unread}, counted ${unread[i]}`);
  });

  // ---- counters v1 does not check
  const expected = { follows: trieSize(state.follows), notifications: vecLength(state.notifications), edits };
  for (const [key, n] of Object.entries(expected)) {
    const had = state.count[key as keyof typeof expected];
    if (had !== n) problems.push(`count: ${key} is ${String(had)}, counted ${n}`);
  }
  return problems;
}
