import { describe, expect, it } from 'vitest';
import { freeze } from 'immer';
import * as v2 from '../../src/feed/v2/index.ts';
import type { State } from '../../src/feed/v2/index.ts';
import fixture from '../fixtures/v2.state.json' with { type: 'json' };
import { Driver, isRefusal } from './helpers.ts';

function feed() {
  const d = new Driver<State>(v2);
  const alice = d.join('alice');
  const bob = d.join('bob');
  const post = d.ok(alice, { type: 'post', text: 'react to me' }).post.id as string;
  return { d, alice, bob, post };
}

describe('feed v2: reactions', () => {
  it('lists react and unreact besides every v1 command', () => {
    expect(v2.commands).toEqual(expect.arrayContaining(['react', 'unreact', 'like', 'unlike', 'post', 'timeline']));
  });

  it('counts reactions per emoji and shows each user the emoji they picked', () => {
    const { d, alice, bob, post } = feed();
    const out = d.send(bob, { type: 'react', post, emoji: '🎉' });
    expect(!isRefusal(out) && out.events).toEqual([{ type: 'react', post, reactions: { '🎉': 1 }, by: bob, emoji: '🎉', on: true }]);
    d.ok(alice, { type: 'react', post, emoji: '🎉' });
    d.ok(alice, { type: 'react', post, emoji: '😂' });
    expect(d.ok(bob, { type: 'thread', post }).post).toMatchObject({ reactions: { '🎉': 2, '😂': 1 }, mine: ['🎉'] });
    expect(d.ok(alice, { type: 'thread', post }).post).toMatchObject({ reactions: { '🎉': 2, '😂': 1 }, mine: ['😂', '🎉'] });
    expect(v2.census(d.state)).toMatchObject({ reactions: 3 });
  });

  it('answers a post in the v2 PostView shape, without likes', () => {
    const { d, alice } = feed();
    const view = d.ok(alice, { type: 'post', text: 'shape' }, { now: 99 }).post;
    expect(view).toEqual({
      id: 'p2', author: { id: alice, handle: 'alice' }, text: 'shape', at: 99, replyTo: null, replies: 0, reactions: {}, mine: [],
    });
  });

  it('ignores a repeated reaction and forgets an emoji nobody uses any more', () => {
    const { d, bob, post } = feed();
    d.ok(bob, { type: 'react', post, emoji: '👍' });
    const state = d.state;
    const again = d.send(bob, { type: 'react', post, emoji: '👍' });
    expect(!isRefusal(again) && again.state).toBe(state);
    expect(!isRefusal(again) && again.events).toBeUndefined();
    d.ok(bob, { type: 'unreact', post, emoji: '👍' });
    expect(v2.sample(d.state, post)?.data).toMatchObject({ reactions: {} });
    expect(v2.validate(d.state)).toEqual([]);
  });

  it('refuses an emoji outside the set with bad_emoji', () => {
    const { d, bob, post } = feed();
    for (const emoji of ['🍕', 'heart', '', undefined]) expect(d.refused(bob, { type: 'react', post, emoji })).toBe('bad_emoji');
  });

  it('refuses reacting to a deleted post with no_such_post and before joining with not_joined', () => {
    const { d, alice, bob, post } = feed();
    expect(d.refused(null, { type: 'react', post, emoji: '❤️' })).toBe('not_joined');
    d.ok(alice, { type: 'delete', post });
    expect(d.refused(bob, { type: 'react', post, emoji: '❤️' })).toBe('no_such_post');
  });

  it("accepts a v1 client's like and unlike as a ❤️ reaction, answering in both shapes", () => {
    const { d, bob, post } = feed();
    d.ok(bob, { type: 'react', post, emoji: '😮' });
    const like = d.send(bob, { type: 'like', post });
    expect(!isRefusal(like) && like.reply).toEqual({ post, reactions: { '❤️': 1, '😮': 1 }, mine: ['❤️', '😮'], likes: 1, liked: true });
    expect(!isRefusal(like) && like.events).toEqual([{ type: 'react', post, reactions: { '❤️': 1, '😮': 1 }, by: bob, emoji: '❤️', on: true }]);
    const unlike = d.ok(bob, { type: 'unlike', post });
    expect(unlike).toMatchObject({ reactions: { '😮': 1 }, likes: 0, liked: false });
  });

  it('takes all reactions of a deleted post out of the count', () => {
    const { d, alice, bob, post } = feed();
    d.ok(bob, { type: 'react', post, emoji: '❤️' });
    d.ok(bob, { type: 'react', post, emoji: '😢' });
    d.ok(alice, { type: 'react', post, emoji: '😢' });
    d.ok(alice, { type: 'delete', post });
    expect(v2.census(d.state)).toEqual({ users: 2, posts: 0, reactions: 0 });
    expect(v2.validate(d.state)).toEqual([]);
  });
});

describe('feed v2: validate, census, sample', () => {
  const valid = fixture as unknown as State;
  const broken = (edit: (s: any) => void): readonly string[] => {
    const copy = structuredClone(valid) as any;
    edit(copy);
    return v2.validate(copy);
  };

  it('accepts the frozen v2 fixture and counts it', () => {
    expect(v2.validate(freeze(structuredClone(valid), true))).toEqual([]);
    expect(v2.census(valid)).toEqual({ users: 3, posts: 4, reactions: 7 });
    expect(v2.sample(valid)).toMatchObject({ kind: 'post', id: 'p5' });
  });

  it.each([
    ['an unknown emoji', (s: any) => (s.posts.root[0].reactions['🍕'] = ['u1']), /post p1: reactions has unknown emoji 🍕/],
    ['an empty emoji list', (s: any) => (s.posts.root[4].reactions['👍'] = []), /post p5: reactions 👍 is not a non-empty list/],
    ['a reaction by an unknown user', (s: any) => s.posts.root[3].reactions['❤️'].push('u42'), /post p4: reacted ❤️ by unknown user u42/],
    ['the same user twice on one emoji', (s: any) => s.posts.root[3].reactions['❤️'].push('u1'), /post p4: reacted ❤️ twice by u1/],
    ['likes left over from v1', (s: any) => (s.posts.root[4] = { ...s.posts.root[4], likes: [] }), /post p5: not a plain post/],
    ['a wrong reaction counter', (s: any) => (s.count.reactions = 6), /count: reactions is 6, counted 7/],
  ])('reports %s', (_what, edit, problem) => {
    const problems = broken(edit);
    expect(problems.some((p) => problem.test(p)), problems.join('\n')).toBe(true);
  });
});
