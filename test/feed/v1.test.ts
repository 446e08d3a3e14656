import { describe, expect, it } from 'vitest';
import { freeze } from 'immer';
import * as v1 from '../../src/feed/v1/index.ts';
import type { State } from '../../src/feed/v1/index.ts';
import fixture from '../fixtures/v1.state.json' with { type: 'json' };
import { trieSet } from '../../src/feed/v1/trie.ts';
import { vecGet } from '../../src/feed/v1/vec.ts';
import { Driver, ctx, isRefusal } from './helpers.ts';

/** Move the first bucket of a trie's root one slot to the right (into an empty slot). */
function moveBucket(trie: { root: unknown[] }): void {
  const root = trie.root;
  const at = root.findIndex((slot, i) => Array.isArray(slot) && typeof slot[0] === 'string' && root[(i + 1) % 32] === null);
  root[(at + 1) % 32] = root[at];
  root[at] = null;
}

function feed() {
  const d = new Driver<State>(v1);
  const alice = d.join('alice');
  const bob = d.join('bob');
  return { d, alice, bob };
}

describe('feed v1: users', () => {
  it('refuses a handle that is too short, too long or has other characters, with bad_handle', () => {
    const { d } = feed();
    for (const handle of ['ab', 'a'.repeat(21), 'has space', 'émile', 'dash-ed', 7]) {
      expect(d.refused(null, { type: 'join', handle })).toBe('bad_handle');
    }
    expect(d.join('abc')).toBe('u3');
    expect(d.join('a_b_c_1234567890_xyz')).toBe('u4');
  });

  it('keeps "__proto__" and "constructor" as ordinary handles', () => {
    const { d } = feed();
    const proto = d.join('__proto__');
    expect(d.join('constructor')).not.toBe(proto);
    expect(d.refused(null, { type: 'join', handle: '__PROTO__' })).toBe('handle_taken');
    expect(v1.validate(d.state)).toEqual([]);
  });

  it('resumes a session from its token and binds the connection to the same user', () => {
    const d = new Driver<State>(v1);
    const joined = d.ok(null, { type: 'join', handle: 'alice' });
    const out = d.send(null, { type: 'resume', token: joined.token });
    expect(out).toMatchObject({ reply: { user: joined.user }, bind: joined.user.id });
    expect(d.refused(null, { type: 'resume', token: 'made-up' })).toBe('bad_session');
  });

  it('forgets the session token on leave, so it can no longer resume', () => {
    const d = new Driver<State>(v1);
    const joined = d.ok(null, { type: 'join', handle: 'alice' });
    const out = d.send(joined.user.id, { type: 'leave', token: joined.token });
    expect(out).toMatchObject({ bind: null });
    expect(d.refused(null, { type: 'resume', token: joined.token })).toBe('bad_session');
  });

  it("does not revoke someone else's token on leave", () => {
    const d = new Driver<State>(v1);
    const alice = d.ok(null, { type: 'join', handle: 'alice' });
    const bob = d.join('bob');
    d.ok(bob, { type: 'leave', token: alice.token });
    expect(d.ok(null, { type: 'resume', token: alice.token }).user.id).toBe(alice.user.id);
  });

  it('lists the online users with their handles', () => {
    const { d, alice, bob } = feed();
    const out = d.ok(alice, { type: 'online' }, { online: [bob, 'u999'] });
    expect(out).toEqual({ users: [{ id: bob, handle: 'bob' }] });
  });

  it('announces presence sent by the kernel and refuses it from a client with system_only', () => {
    const { d, alice } = feed();
    const state = d.state;
    const out = v1.handle(state, { type: 'presence', user: alice, online: true }, ctx(null, { system: true }));
    expect(out).toEqual({ state, events: [{ type: 'presence', user: { id: alice, handle: 'alice' }, online: true }] });
    const bound = v1.handle(state, { type: 'presence', online: false }, ctx(alice, { system: true }));
    expect(!isRefusal(bound) && bound.events).toEqual([{ type: 'presence', user: { id: alice, handle: 'alice' }, online: false }]);
    expect(d.refused(alice, { type: 'presence', user: alice, online: true })).toBe('system_only');
  });
});

describe('feed v1: posts', () => {
  it('refuses a post from a connection that has not joined with not_joined', () => {
    const { d } = feed();
    expect(d.refused(null, { type: 'post', text: 'hi' })).toBe('not_joined');
  });

  it('refuses a blank post with empty', () => {
    const { d, alice } = feed();
    expect(d.refused(alice, { type: 'post', text: ' \n\t ' })).toBe('empty');
  });

  it('refuses a post over 500 characters with too_long, counting emoji as one character', () => {
    const { d, alice } = feed();
    expect(d.refused(alice, { type: 'post', text: 'a'.repeat(501) })).toBe('too_long');
    expect(d.refused(alice, { type: 'post', text: '🙂'.repeat(501) })).toBe('too_long');
    expect(d.ok(alice, { type: 'post', text: '🙂'.repeat(500) }).post.text).toHaveLength(1000);
    expect(d.ok(alice, { type: 'post', text: ` ${'a'.repeat(500)} ` }).post.text).toHaveLength(500);
  });

  it('shows a reply in its thread, oldest first, and bumps the parent reply count', () => {
    const { d, alice, bob } = feed();
    const root = d.ok(alice, { type: 'post', text: 'question?' }).post.id;
    const first = d.send(bob, { type: 'post', text: 'answer one', replyTo: root });
    expect(!isRefusal(first) && first.events).toEqual([
      { type: 'post', post: expect.objectContaining({ text: 'answer one', replyTo: root }) },
      { type: 'replied', post: root, replies: 1 },
    ]);
    d.ok(alice, { type: 'post', text: 'answer two', replyTo: root });
    const thread = d.ok(bob, { type: 'thread', post: root });
    expect(thread.post).toMatchObject({ id: root, replies: 2 });
    expect(thread.replies.map((p: any) => p.text)).toEqual(['answer one', 'answer two']);
    expect(d.ok(bob, { type: 'timeline' }).posts.map((p: any) => p.id)).toEqual([root]);
  });

  it('takes a deleted reply out of its thread and lowers the reply count', () => {
    const { d, alice, bob } = feed();
    const root = d.ok(alice, { type: 'post', text: 'root' }).post.id;
    const reply = d.ok(bob, { type: 'post', text: 'reply', replyTo: root }).post.id;
    const out = d.send(bob, { type: 'delete', post: reply });
    expect(!isRefusal(out) && out.events).toEqual([{ type: 'delete', post: reply }, { type: 'replied', post: root, replies: 0 }]);
    expect(d.ok(alice, { type: 'thread', post: root })).toMatchObject({ post: { replies: 0 }, replies: [] });
    expect(v1.validate(d.state)).toEqual([]);
  });

  it('refuses a reply to a deleted post with no_such_post', () => {
    const { d, alice } = feed();
    const root = d.ok(alice, { type: 'post', text: 'root' }).post.id;
    d.ok(alice, { type: 'delete', post: root });
    expect(d.refused(alice, { type: 'post', text: 'late', replyTo: root })).toBe('no_such_post');
    expect(d.refused(alice, { type: 'thread', post: root })).toBe('no_such_post');
  });

  it("refuses deleting someone else's post with not_yours", () => {
    const { d, alice, bob } = feed();
    const post = d.ok(alice, { type: 'post', text: 'mine' }).post.id;
    expect(d.refused(bob, { type: 'delete', post })).toBe('not_yours');
  });

  it('shows likes to everyone and liked only to the user who liked', () => {
    const { d, alice, bob } = feed();
    const post = d.ok(alice, { type: 'post', text: 'like me' }).post.id;
    const out = d.send(bob, { type: 'like', post });
    expect(!isRefusal(out) && out.events).toEqual([{ type: 'like', post, likes: 1, by: bob, on: true }]);
    expect(d.ok(bob, { type: 'thread', post }).post).toMatchObject({ likes: 1, liked: true });
    expect(d.ok(alice, { type: 'thread', post }).post).toMatchObject({ likes: 1, liked: false });
    expect(d.ok(null, { type: 'timeline' }).posts[0]).toMatchObject({ likes: 1, liked: false });
    const off = d.send(bob, { type: 'unlike', post });
    expect(!isRefusal(off) && off.events).toEqual([{ type: 'like', post, likes: 0, by: bob, on: false }]);
  });

  it('refuses a timeline limit outside 1..50 with bad_limit and an unknown cursor with bad_cursor', () => {
    const { d, alice } = feed();
    for (const limit of [0, 51, 2.5, '10']) expect(d.refused(alice, { type: 'timeline', limit })).toBe('bad_limit');
    for (const before of ['-1', '99', 'p1', '01', 3]) expect(d.refused(alice, { type: 'timeline', before })).toBe('bad_cursor');
    expect(d.ok(alice, { type: 'timeline', limit: 50 })).toEqual({ posts: [], next: null });
  });

  it('answers the full PostView shape', () => {
    const { d, alice } = feed();
    const post = d.ok(alice, { type: 'post', text: 'shape' }, { now: 1234 }).post;
    expect(post).toEqual({
      id: 'p1',
      author: { id: alice, handle: 'alice' },
      text: 'shape',
      at: 1234,
      replyTo: null,
      replies: 0,
      likes: 0,
      liked: false,
    });
  });
});

describe('feed v1: validate', () => {
  const valid = fixture as unknown as State;
  const broken = (edit: (s: any) => void): readonly string[] => {
    const copy = structuredClone(valid) as any;
    edit(copy);
    return v1.validate(copy);
  };

  it('accepts the frozen v1 fixture', () => {
    expect(v1.validate(freeze(structuredClone(valid), true))).toEqual([]);
  });

  it.each([
    ['a post by a user who does not exist', (s: any) => (s.posts.root[0].author = 'u77'), /post p1: author u77/],
    ['an empty text', (s: any) => (s.posts.root[0].text = ''), /post p1: text is empty/],
    ['a text over 500 characters', (s: any) => (s.posts.root[0].text = 'z'.repeat(501)), /post p1: text is over 500/],
    ['a user liking twice', (s: any) => s.posts.root[0].likes.push(s.posts.root[0].likes[0]), /post p1: liked twice by u3/],
    ['a like by an unknown user', (s: any) => s.posts.root[1].likes.push('u9'), /post p2: liked by unknown user u9/],
    ['a handle missing from the index', (s: any) => (s.users.root[0].handle = 'alicia'), /user u1: handle alicia not indexed/],
    ['an index entry for the wrong user', (s: any) => trieSet(s.handles, 'carol', 'u1'), /user u3: handle carol not indexed to it/],
    ['an index entry for no user', (s: any) => trieSet(s.handles, 'mallory', 'u1'), /handles: 5 keys for 4 users/],
    ['a wrong post counter', (s: any) => (s.count.posts += 1), /count: posts is 7, counted 6/],
    ['a wrong like counter', (s: any) => (s.count.likes = 0), /count: likes is 0, counted 4/],
    ['a Map in the state', (s: any) => (s.posts.root[0].likes = new Map()), /post p1: likes is not a list/],
    ['an undefined field', (s: any) => (s.posts.root[0].extra = undefined), /post p1: not a plain post/],
    ['a Date as a user', (s: any) => (s.users.root[0] = new Date(0)), /user u1: not a plain/],
    ['a reply missing from its parent', (s: any) => s.posts.root[0].replies.pop(), /live replies to live posts/],
    ['a session of an unknown user', (s: any) => trieSet(s.sessions, 't', 'u50'), /sessions: a token/],
    ['a posts vector whose size is off', (s: any) => (s.posts.size += 1), /posts: root has 8 entries, expected 9/],
    ['a users vector that is a plain list', (s: any) => (s.users = s.users.root), /users: not a \{size, shift, root\} vector/],
    ['a handle stored where its hash does not lead', (s: any) => moveBucket(s.handles), /handles: root\[\d+\]: a key is not where its hash puts it/],
    ['a session index whose size is off', (s: any) => (s.sessions.size += 1), /sessions: size is 4, holds 3 keys/],
    ['a top-level post missing from roots', (s: any) => (s.roots.root.pop(), (s.roots.size -= 1)), /roots: lists 2 live top-level posts, there are 3/],
  ])('reports %s', (_what, edit, problem) => {
    const problems = broken(edit);
    expect(problems.some((p) => problem.test(p)), problems.join('\n')).toBe(true);
  });

  it('caps the problem list and says how many more there are', () => {
    const problems = broken((s) => {
      for (let i = 0; i < 300; i++) trieSet(s.sessions, `x${i}`, 'u999');
    });
    expect(problems).toHaveLength(101);
    expect(problems[100]).toBe('... and 200 more problems');
  });
});

describe('feed v1: census and sample', () => {
  it('counts users, live posts including replies, and likes on live posts', () => {
    expect(v1.census(fixture as unknown as State)).toEqual({ users: 4, posts: 6, likes: 4 });
  });

  it('samples the newest live post as stored, or the one asked for', () => {
    const state = fixture as unknown as State;
    expect(v1.sample(state)).toEqual({ kind: 'post', id: 'p8', data: vecGet(state.posts, 7) });
    expect(v1.sample(state, 'p2')?.data).toMatchObject({ text: 'Welcome aboard 👋' });
    expect(v1.sample(state, 'p4')).toBeNull();
    expect(v1.sample(state, 'nonsense')).toBeNull();
  });
});
