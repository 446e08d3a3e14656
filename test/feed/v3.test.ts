import { describe, expect, it } from 'vitest';
import { freeze } from 'immer';
import * as v3 from '../../src/feed/v3/index.ts';
import type { State } from '../../src/feed/v3/index.ts';
import { EDIT_WINDOW_MS, SCAN_MAX } from '../../src/feed/v3/limits.ts';
import fixture from '../fixtures/v3.state.json' with { type: 'json' };
import { Driver, isRefusal } from './helpers.ts';

const T0 = 1_700_000_000_000;

function people() {
  const d = new Driver<State>(v3);
  const alice = d.join('alice');
  const bob = d.join('bob');
  const carol = d.join('carol');
  return { d, alice, bob, carol };
}

/** Send and return the whole accepted outcome. */
function out(d: Driver<State>, user: string | null, command: { type: string; [k: string]: unknown }, now = T0) {
  const o = d.send(user, command, { now });
  if (isRefusal(o)) throw new Error(`${command.type} refused: ${o.error.code}`);
  expect(v3.validate(d.state)).toEqual([]);
  return o;
}

describe('feed v3: profiles', () => {
  it('gives a new person a profile named by their handle, and lets them change name and bio', () => {
    const { d, alice } = people();
    expect(d.ok(null, { type: 'profile', handle: 'ALICE' }).user).toMatchObject({ id: alice, handle: 'alice', name: 'alice', bio: '', followers: 0, following: 0 });
    const o = out(d, alice, { type: 'update_profile', name: '  Alice Liddell ', bio: 'Curious.' });
    expect(o.events).toEqual([{ type: 'profile', user: { id: alice, handle: 'alice', name: 'Alice Liddell', bio: 'Curious.' } }]);
    expect(d.ok(alice, { type: 'post', text: 'hello' }).post.author).toEqual({ id: alice, handle: 'alice', name: 'Alice Liddell' });
  });

  it('refuses a name or bio out of bounds and profiles of nobody', () => {
    const { d, alice } = people();
    expect(d.refused(alice, { type: 'update_profile', name: '   ' })).toBe('bad_name');
    expect(d.refused(alice, { type: 'update_profile', name: 'x'.repeat(51) })).toBe('bad_name');
    expect(d.refused(alice, { type: 'update_profile', name: 'two\nlines' })).toBe('bad_name');
    expect(d.refused(alice, { type: 'update_profile', bio: 'x'.repeat(161) })).toBe('bad_bio');
    expect(d.refused(alice, { type: 'update_profile' })).toBe('bad_request');
    expect(d.refused(null, { type: 'update_profile', name: 'Me' })).toBe('not_joined');
    expect(d.refused(alice, { type: 'profile', handle: 'nobody' })).toBe('no_such_user');
  });
});

describe('feed v3: follows and the home timeline', () => {
  it('counts followers and following, once however often, and tells the person followed only', () => {
    const { d, alice, bob } = people();
    const o = out(d, bob, { type: 'follow', handle: 'alice' });
    expect(o.events![0]).toEqual({ type: 'follow', by: bob, user: alice, on: true, followers: 1, following: 1 });
    expect(o.events![1]).toMatchObject({ type: 'notification', to: [alice], notification: { type: 'follow', by: { id: bob } }, unread: 1 });
    const again = d.state;
    expect(out(d, bob, { type: 'follow', user: alice }).state).toBe(again);
    expect(d.ok(bob, { type: 'profile', user: alice }).user).toMatchObject({ followers: 1, following: 0, followed: true, followsYou: false });
    expect(d.ok(alice, { type: 'profile', user: bob }).user).toMatchObject({ followers: 0, following: 1, followed: false, followsYou: true });
    out(d, bob, { type: 'unfollow', user: alice });
    expect(d.ok(bob, { type: 'profile', user: alice }).user).toMatchObject({ followers: 0, followed: false });
    expect(v3.census(d.state)).toMatchObject({ follows: 0, notifications: 1 });
    expect(d.refused(bob, { type: 'follow', user: bob })).toBe('self_follow');
    expect(d.refused(bob, { type: 'follow', user: 'u99' })).toBe('no_such_user');
  });

  it('shows on home my posts and those of the people I follow, with the same cursor paging', () => {
    const { d, alice, bob, carol } = people();
    out(d, alice, { type: 'follow', user: bob });
    const mine: string[] = [];
    for (let i = 0; i < 30; i++) {
      const by = [alice, bob, carol][i % 3]!;
      const id = d.ok(by, { type: 'post', text: `post ${i}` }).post.id;
      if (by !== carol) mine.push(id);
    }
    const seen: string[] = [];
    let before: string | null = null;
    do {
      const page: any = d.ok(alice, { type: 'home', limit: 7, ...(before ? { before } : {}) });
      seen.push(...page.posts.map((p: any) => p.id));
      before = page.next;
    } while (before !== null);
    expect(seen).toEqual(mine.reverse());
    expect(d.refused(null, { type: 'home' })).toBe('not_joined');
  });

  it('looks at no more than SCAN_MAX posts for one page, and says where to go on', () => {
    const { d, alice, bob } = people();
    out(d, alice, { type: 'follow', user: bob });
    d.ok(bob, { type: 'post', text: 'old news' });
    // plenty of posts by someone Alice does not follow, written straight into the state
    let state = d.state;
    for (let i = 0; i < SCAN_MAX + 10; i++) {
      const o = v3.handle(state, { type: 'post', text: `noise ${i}` }, { now: T0, token: () => 't', caller: { conn: null, user: 'u3', system: false }, online: [] });
      if (isRefusal(o)) throw new Error(o.error.code);
      state = o.state;
    }
    d.state = state;
    const first = d.ok(alice, { type: 'home' });
    expect(first.posts).toEqual([]);
    expect(first.next).not.toBeNull();
    expect(d.ok(alice, { type: 'home', before: first.next }).posts.map((p: any) => p.text)).toEqual(['old news']);
  }, 30_000);
});

describe('feed v3: mentions, tags and notifications', () => {
  it('resolves @mentions, lists #tags, and notifies only the people named', () => {
    const { d, alice, bob } = people();
    const o = out(d, alice, { type: 'post', text: 'hey @Bob and @nobody_here, #Molt time' });
    const post = (o.reply as any).post;
    expect(post.mentions).toEqual([{ id: bob, handle: 'bob' }]);
    expect(post.tags).toEqual(['molt']);
    const notes = o.events!.filter((e) => e.type === 'notification');
    expect(notes).toEqual([{ type: 'notification', to: [bob], notification: expect.objectContaining({ type: 'mention', by: { id: alice, handle: 'alice', name: 'alice' } }), unread: 1 }]);
    // the post event itself goes to everyone
    expect(o.events!.find((e) => e.type === 'post')!.to).toBeUndefined();
  });

  it('notifies the author of the post replied to and reacted to, never oneself', () => {
    const { d, alice, bob } = people();
    const p = d.ok(alice, { type: 'post', text: 'root' }).post.id;
    const r = out(d, bob, { type: 'post', text: 'a reply mentioning @alice', replyTo: p });
    expect(r.events!.filter((e) => e.type === 'notification').map((e: any) => [e.to, e.notification.type])).toEqual([[[alice], 'reply']]);
    const self = out(d, alice, { type: 'post', text: 'me, @alice', replyTo: p });
    expect(self.events!.some((e) => e.type === 'notification')).toBe(false);
    const react = out(d, bob, { type: 'react', post: p, emoji: '😂' });
    expect(react.events!.filter((e) => e.type === 'notification')).toEqual([expect.objectContaining({ to: [alice], notification: expect.objectContaining({ type: 'reaction', emoji: '😂' }) })]);
    expect(out(d, bob, { type: 'unreact', post: p, emoji: '😂' }).events!.some((e) => e.type === 'notification')).toBe(false);
  });

  it('lists my notifications newest first, pages them, and marks them read', () => {
    const { d, alice, bob } = people();
    for (let i = 0; i < 5; i++) d.ok(bob, { type: 'post', text: `@alice number ${i}` });
    const first = d.ok(alice, { type: 'notifications', limit: 3 });
    expect(first.unread).toBe(5);
    expect(first.notifications.map((n: any) => n.post.text)).toEqual(['@alice number 4', '@alice number 3', '@alice number 2']);
    const rest = d.ok(alice, { type: 'notifications', before: first.next });
    expect(rest.notifications.map((n: any) => n.post.text)).toEqual(['@alice number 1', '@alice number 0']);
    expect(rest.next).toBeNull();
    expect(d.ok(bob, { type: 'notifications' }).notifications).toEqual([]);
    expect(d.refused(bob, { type: 'notifications', before: first.next })).toBe('bad_cursor');
    const read = out(d, alice, { type: 'mark_read' });
    expect(read.events).toEqual([{ type: 'read', to: [alice], unread: 0 }]);
    expect(d.ok(alice, { type: 'notifications' })).toMatchObject({ unread: 0, notifications: [{ read: true }, { read: true }, { read: true }, { read: true }, { read: true }] });
    d.ok(bob, { type: 'post', text: 'again @alice' });
    expect(d.ok(alice, { type: 'notifications' }).notifications.map((n: any) => n.read)).toEqual([false, true, true, true, true, true]);
  });

  it('finds posts by tag, in any case, replies included', () => {
    const { d, alice, bob } = people();
    const a = d.ok(alice, { type: 'post', text: 'first #Molt' }).post.id;
    d.ok(bob, { type: 'post', text: 'not #molting' });
    const c = d.ok(bob, { type: 'post', text: 'reply #MOLT', replyTo: a }).post.id;
    expect(d.ok(null, { type: 'tag', tag: 'molt' }).posts.map((p: any) => p.id)).toEqual([c, a]);
    expect(d.refused(null, { type: 'tag', tag: '#molt' })).toBe('bad_tag');
  });
});

describe('feed v3: threads', () => {
  it('gives the whole conversation: ancestors, the post, and replies to replies depth first', () => {
    const { d, alice, bob, carol } = people();
    const root = d.ok(alice, { type: 'post', text: 'root' }).post.id;
    const b1 = d.ok(bob, { type: 'post', text: 'b1', replyTo: root }).post.id;
    const c1 = d.ok(carol, { type: 'post', text: 'c1', replyTo: b1 }).post.id;
    const b2 = d.ok(bob, { type: 'post', text: 'b2', replyTo: root }).post.id;
    const a1 = d.ok(alice, { type: 'post', text: 'a1', replyTo: c1 }).post.id;
    const all = d.ok(null, { type: 'context', post: root });
    expect(all.ancestors).toEqual([]);
    expect(all.descendants.map((p: any) => p.id)).toEqual([b1, c1, a1, b2]);
    const mid = d.ok(null, { type: 'context', post: c1 });
    expect(mid.ancestors.map((p: any) => p.id)).toEqual([root, b1]);
    expect(mid.post.id).toBe(c1);
    expect(mid.descendants.map((p: any) => p.id)).toEqual([a1]);
    expect(d.ok(null, { type: 'timeline' }).posts.map((p: any) => [p.id, p.replies])).toEqual([[root, 2]]);
    expect(d.ok(null, { type: 'user_posts', handle: 'bob' }).posts.map((p: any) => p.id)).toEqual([b2, b1]);
  });
});

describe('feed v3: edits', () => {
  it('edits my post within the hour, marks it edited and keeps every version', () => {
    const { d, alice } = people();
    const p = d.ok(alice, { type: 'post', text: 'tpyo' }, { now: T0 }).post.id;
    const o = out(d, alice, { type: 'edit', post: p, text: 'typo' }, T0 + 60_000);
    expect(o.events).toEqual([{ type: 'edit', post: expect.objectContaining({ id: p, text: 'typo', edited: T0 + 60_000, edits: 1 }) }]);
    out(d, alice, { type: 'edit', post: p, text: 'typo!' }, T0 + 120_000);
    expect(d.ok(null, { type: 'history', post: p }).versions).toEqual([
      { text: 'tpyo', at: T0 },
      { text: 'typo', at: T0 + 60_000 },
      { text: 'typo!', at: T0 + 120_000 },
    ]);
    expect(v3.census(d.state).edits).toBe(2);
    out(d, alice, { type: 'delete', post: p });
    expect(v3.census(d.state).edits).toBe(0);
  });

  it('refuses edits of others’ posts, after the window, past the limit, or empty', () => {
    const { d, alice, bob } = people();
    const p = d.ok(alice, { type: 'post', text: 'v0' }, { now: T0 }).post.id;
    expect(d.refused(bob, { type: 'edit', post: p, text: 'mine now' })).toBe('not_your_post');
    expect(d.refused(alice, { type: 'edit', post: p, text: '  ' })).toBe('empty');
    expect(d.send(alice, { type: 'edit', post: p, text: 'late' }, { now: T0 + EDIT_WINDOW_MS + 1 })).toMatchObject({ error: { code: 'edit_window' } });
    for (let i = 1; i <= 5; i++) out(d, alice, { type: 'edit', post: p, text: `v${i}` }, T0 + i);
    expect(d.send(alice, { type: 'edit', post: p, text: 'v6' }, { now: T0 + 10 })).toMatchObject({ error: { code: 'too_many_edits' } });
    // the same text again changes nothing
    const same = d.send(alice, { type: 'edit', post: p, text: 'v5' }, { now: T0 + 10 });
    expect(!isRefusal(same) && same.events).toBeUndefined();
  });
});

describe('feed v3: validate, census, sample', () => {
  const valid = fixture as unknown as State;
  const broken = (edit: (s: any) => void): readonly string[] => {
    const copy = structuredClone(valid) as any;
    edit(copy);
    return v3.validate(copy);
  };

  it('accepts the frozen v3 fixture and counts it', () => {
    expect(v3.validate(freeze(structuredClone(valid), true))).toEqual([]);
    expect(v3.census(valid)).toEqual({ users: 3, posts: 4, reactions: 2, follows: 3, notifications: 10, edits: 2 });
    expect(v3.sample(valid)).toMatchObject({ kind: 'post', id: 'p5' });
  });

  it.each([
    ['a follow count that disagrees with the index', (s: any) => (s.users.root[0].followers = 5), /user u1: 5 followers/],
    ['a follow index emptied under its counts', (s: any) => s.follows.root.splice(0, 32, ...Array(32).fill(null)), /follows: size is 3, holds 0 keys/],
    ['a notification to its own author', (s: any) => (s.notifications.root[0].by = 'u1'), /notification n1: from u1 to u1/],
    ['a broken notification chain', (s: any) => (s.notifications.root[1].prev = -1), /notification n2: prev is -1/],
    ['a wrong unread count', (s: any) => (s.users.root[0].inbox.unread = 0), /user u1: inbox.unread is 0, counted 4/],
    ['an edit dated before its post', (s: any) => (s.posts.root[0].edits[0].at = 0), /post p1: edit 0: at 0/],
    ['a wrong edit counter', (s: any) => (s.count.edits = 7), /count: edits is 7, counted 2/],
    ['a user without a name', (s: any) => (s.users.root[1].name = ''), /user u2: bad name/],
    ['a missing collection', (s: any) => delete s.follows, /state: not a plain object/],
  ])('reports %s', (_what, edit, problem) => {
    const problems = broken(edit);
    expect(problems.some((p) => problem.test(p)), problems.join('\n')).toBe(true);
  });
});
