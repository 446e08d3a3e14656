import { describe, expect, it } from 'vitest';
import { FeedStore, postId } from '../../client/src/feed-store.ts';
import { fallbackView } from '../../client/src/fallback-view.ts';
import v1 from '../../src/feed/v1/view.ts';
import v2 from '../../src/feed/v2/view.ts';

const alice = { id: 'u0', handle: 'alice' };
const post = (id: string, extra: Record<string, unknown> = {}) => ({ id, author: alice, text: `post ${id}`, at: 1, replyTo: null, replies: 0, likes: 0, liked: false, ...extra });

describe('FeedStore', () => {
  it('keeps top-level posts newest first across pages and skips duplicates', () => {
    const s = new FeedStore();
    expect(s.addPage([post('p3'), post('p2')], '1')).toEqual(['p3', 'p2']);
    expect(s.addPage([post('p2'), post('p1')], null)).toEqual(['p1']);
    expect(s.timeline).toEqual(['p3', 'p2', 'p1']);
    expect(s.next).toBeNull();
  });

  it('puts a new top-level post on top and ignores one it already has', () => {
    const s = new FeedStore();
    s.addPage([post('p1')], null);
    expect(s.apply({ type: 'post', post: post('p2') }, v1, null)).toEqual([{ kind: 'insert', id: 'p2', parent: null }]);
    expect(s.apply({ type: 'post', post: post('p2') }, v1, null)).toEqual([]);
    expect(s.timeline).toEqual(['p2', 'p1']);
  });

  it('shows a reply only in its open thread, and takes the reply count from `replied`', () => {
    const s = new FeedStore();
    s.addPage([post('p1')], null);
    const reply = post('p2', { replyTo: 'p1' });
    expect(s.apply({ type: 'post', post: reply }, v1, null)).toEqual([]);
    expect(s.apply({ type: 'replied', post: 'p1', replies: 1 }, v1, null)).toEqual([{ kind: 'update', id: 'p1' }]);
    expect(s.posts.get('p1')!.replies).toBe(1);
    s.setThread(s.posts.get('p1')!, [reply]);
    const again = post('p3', { replyTo: 'p1' });
    expect(s.apply({ type: 'post', post: again }, v1, null)).toEqual([{ kind: 'insert', id: 'p3', parent: 'p1' }]);
    expect(s.threads.get('p1')).toEqual(['p2', 'p3']);
    expect(s.timeline).toEqual(['p1']);
  });

  it('removes a deleted post from the timeline and from its thread', () => {
    const s = new FeedStore();
    s.addPage([post('p1')], null);
    s.setThread(s.posts.get('p1')!, [post('p2', { replyTo: 'p1' })]);
    expect(s.apply({ type: 'delete', post: 'p2' }, v1, null)).toEqual([{ kind: 'remove', id: 'p2', parent: 'p1' }]);
    expect(s.threads.get('p1')).toEqual([]);
    expect(s.apply({ type: 'delete', post: 'p1' }, v1, null)).toEqual([{ kind: 'remove', id: 'p1', parent: null }]);
    expect(s.timeline).toEqual([]);
  });

  it("hands the version's own events to the view and re-renders only the post they name", () => {
    const s = new FeedStore();
    s.addPage([post('p1'), post('p2')], null);
    expect(s.apply({ type: 'like', post: 'p2', likes: 1, by: 'u9', on: true }, v1, 'u0')).toEqual([{ kind: 'update', id: 'p2' }]);
    expect(s.posts.get('p2')).toMatchObject({ likes: 1, liked: false });
    expect(s.apply({ type: 'like', post: 'nope', likes: 1, by: 'u9', on: true }, v1, 'u0')).toEqual([]);
    expect(s.apply({ type: 'like', post: 'p2', likes: 1, by: 'u9', on: true }, fallbackView(1), 'u0')).toEqual([]);
  });

  it('finds the post id in an event whether it is an id or a post', () => {
    expect(postId({ type: 'x', post: 'p1' })).toBe('p1');
    expect(postId({ type: 'x', post: post('p2') })).toBe('p2');
    expect(postId({ type: 'x' })).toBeNull();
  });
});
