/**
 * The page's cache of the feed: posts by id, the timeline's order, the threads that are open and the
 * cursor for older posts. Pure data: every method says what changed, and the DOM layer re-renders
 * exactly that. Posts are in the shape of the running version; on an upgrade the cache is refilled.
 */
import type { BasePost, FeedView, UserId, ViewEvent } from './view-contract.ts';

export type Change =
  | { readonly kind: 'insert'; readonly id: string; readonly parent: string | null }
  | { readonly kind: 'update'; readonly id: string }
  | { readonly kind: 'remove'; readonly id: string; readonly parent: string | null };

export class FeedStore {
  readonly posts = new Map<string, BasePost>();
  /** The list's posts, newest first: top-level posts, or (flat) any post the list was given. */
  timeline: string[] = [];
  /** Open threads: parent id -> reply ids, oldest first. */
  readonly threads = new Map<string, string[]>();
  /** Cursor for the next older page; null when there is nothing older. */
  next: unknown = null;
  /** Whether the first page arrived. */
  loaded = false;

  /** A flat list keeps replies in the list itself (a person's posts, a tag), not only in threads. */
  constructor(readonly flat = false) {}

  clear(): void {
    this.posts.clear();
    this.timeline = [];
    this.threads.clear();
    this.next = null;
    this.loaded = false;
  }

  /** Add a page of the timeline (newest first). Returns the ids appended to the bottom. */
  addPage(posts: readonly BasePost[], next: unknown): string[] {
    const added: string[] = [];
    for (const post of posts) {
      if (!isPost(post)) continue;
      this.posts.set(post.id, post);
      if (!this.flat && post.replyTo !== null && post.replyTo !== undefined) continue;
      if (!this.timeline.includes(post.id)) {
        this.timeline.push(post.id);
        added.push(post.id);
      }
    }
    this.next = next ?? null;
    this.loaded = true;
    return added;
  }

  /** Fill a thread from a `thread` reply. Returns the reply ids. */
  setThread(parent: BasePost, replies: readonly BasePost[]): string[] {
    this.posts.set(parent.id, parent);
    const ids = replies.filter(isPost).map((r) => {
      this.posts.set(r.id, r);
      return r.id;
    });
    this.threads.set(parent.id, ids);
    return ids;
  }

  closeThread(id: string): void {
    for (const reply of this.threads.get(id) ?? []) {
      if (!this.timeline.includes(reply) && !this.threads.has(reply)) this.posts.delete(reply);
    }
    this.threads.delete(id);
  }

  /** Fold one event. `view` handles the version's own post events (like, react, ...). */
  apply(event: ViewEvent, view: FeedView, me: UserId | null): Change[] {
    switch (event.type) {
      case 'post':
        return isPost(event.post) ? this.insert(event.post) : [];
      case 'delete': {
        const id = postId(event);
        return id === null ? [] : this.remove(id);
      }
      case 'replied': {
        // {post, replies}: the parent's live reply count, after a reply was posted or deleted.
        const id = postId(event);
        const post = id === null ? undefined : this.posts.get(id);
        if (!post || typeof event.replies !== 'number' || post.replies === event.replies) return [];
        this.posts.set(post.id, { ...post, replies: event.replies });
        return [{ kind: 'update', id: post.id }];
      }
      default: {
        const id = postId(event);
        const post = id === null ? undefined : this.posts.get(id);
        if (!post) return [];
        const next = view.reduce(post, event, me);
        if (next === null || next === post) return [];
        this.posts.set(post.id, next);
        return [{ kind: 'update', id: post.id }];
      }
    }
  }

  /** Put a post on top of the list (a live post the list wants), unless it is there already. */
  insertTop(post: BasePost): Change[] {
    if (this.timeline.includes(post.id)) return [];
    this.posts.set(post.id, post);
    this.timeline.unshift(post.id);
    return [{ kind: 'insert', id: post.id, parent: null }];
  }

  private insert(post: BasePost): Change[] {
    if (this.posts.has(post.id)) return [];
    const parent = post.replyTo ?? null;
    if (parent === null || this.flat) return this.insertTop(post);
    // A reply shows in its parent's thread when that is open; the parent's count comes with `replied`.
    const thread = this.threads.get(parent);
    if (!thread) return [];
    this.posts.set(post.id, post);
    thread.push(post.id);
    return [{ kind: 'insert', id: post.id, parent }];
  }

  private remove(id: string): Change[] {
    const post = this.posts.get(id);
    if (!post) return [];
    const parent = post.replyTo ?? null;
    this.posts.delete(id);
    this.timeline = this.timeline.filter((x) => x !== id);
    this.threads.delete(id);
    if (parent !== null) {
      const thread = this.threads.get(parent);
      if (thread) this.threads.set(parent, thread.filter((x) => x !== id));
    }
    return [{ kind: 'remove', id, parent }];
  }
}

/** The post id an event is about: `event.post` as an id, or as a post object with one. */
export function postId(event: ViewEvent): string | null {
  const p = event.post;
  if (typeof p === 'string') return p;
  if (typeof p === 'object' && p !== null && typeof (p as { id?: unknown }).id === 'string') return (p as { id: string }).id;
  return null;
}

function isPost(x: unknown): x is BasePost {
  return typeof x === 'object' && x !== null && typeof (x as BasePost).id === 'string' && typeof (x as BasePost).text === 'string';
}
