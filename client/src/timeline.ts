/**
 * A live list of post cards: the part of a page that every timeline shares (everyone's posts, a
 * person's, a tag's, the Following timeline). It loads pages with a cursor, loads older ones as the
 * end comes into view, folds live events, and keeps the reader in place: a new post arriving while
 * they read further down waits behind a "N new posts" pill instead of pushing the list down, and
 * screen readers hear about it. Replies open inline under a card (v1, v2); reply drafts live in
 * shell-owned composers, so they survive re-renders and upgrades.
 *
 * Pages (src/feed/vN/view.ts, client/src/default-regions.ts) build on it; it bundles into each view.
 */
import { busyDelay } from './backoff.ts';
import { FeedStore, type Change } from './feed-store.ts';
import type { BasePost, CommandResult, FeedView, PageState, RegionApi, ViewApi, ViewEvent } from './view-contract.ts';
import { h } from './view-kit.ts';

const PAGE = 20;

export interface TimelineOptions {
  readonly api: RegionApi;
  readonly view: Pick<FeedView, 'renderPost' | 'reduce' | 'version'>;
  /** One page, newest first: the reply of a timeline-like command ({posts, next}). */
  load(before: unknown): Promise<CommandResult>;
  /** Whether a live post goes on top of this list. Default: a top-level post. */
  accepts?(post: BasePost): boolean;
  /** Replies stay in the list itself (a person's posts, a tag). */
  readonly flat?: boolean;
  /** Events about many posts at once (a new display name): return the ids changed. */
  fold?(event: ViewEvent, store: FeedStore): string[];
  readonly label: string;
  readonly empty: { readonly title: string; readonly hint?: string };
  /** Show at least as much as the page this one replaces. */
  readonly had?: PageState | null;
}

interface Entry {
  readonly li: HTMLElement;
  readonly cardSlot: HTMLElement;
  readonly replies: HTMLElement;
  readonly extras: HTMLElement;
}

export class Timeline {
  readonly el: HTMLElement;
  readonly ready: Promise<void>;
  readonly store: FeedStore;
  private readonly list: HTMLElement;
  private readonly more: HTMLElement;
  private readonly pill: HTMLButtonElement;
  private readonly entries = new Map<string, Entry>();
  private readonly observer: IntersectionObserver;
  private pending: BasePost[] = [];
  private loading = false;
  private disposed = false;
  /** Why the first page of posts did not come (the server was busy), while it is asked again. */
  private failed: string | null = null;
  private fillTries = 0;
  private fillTimer: ReturnType<typeof setTimeout> | null = null;
  private heard = 0;
  private heardTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly o: TimelineOptions) {
    this.store = new FeedStore(o.flat ?? false);
    this.list = h('ol.timeline', { id: 'timeline', 'aria-label': o.label });
    this.more = h('div.more');
    this.pill = h('button.new-posts', { type: 'button', hidden: true, onclick: () => this.showPending() }) as HTMLButtonElement;
    this.el = h('div.timeline-region', {}, this.pill, this.list, this.more);
    this.observer = new IntersectionObserver((seen) => {
      if (seen.some((e) => e.isIntersecting)) void this.loadOlder();
    });
    this.observer.observe(this.more);
    this.ready = this.fill();
  }

  private async fill(): Promise<void> {
    const keep = Math.max(PAGE, this.o.had?.size ?? 0);
    let page = await this.o.load(null);
    while (page.ok) {
      const data = page.data as { posts?: unknown; next?: unknown };
      this.store.addPage(arrayOf<BasePost>(data.posts), data.next ?? null);
      // a filtered list may come back short (the server looked as far as it would): ask on
      if (this.store.next === null || this.store.timeline.length >= keep) break;
      page = await this.o.load(this.store.next);
    }
    if (!page.ok) {
      this.o.api.toast(`Could not load the posts: ${page.error.message}`);
      // Nothing came: say so and ask again, backing off. It said "No posts yet" for good (until a
      // reload) over a feed that has posts, when the server was too busy to answer once.
      if (this.store.timeline.length === 0 && page.error.code !== 'E_OFFLINE') this.askAgain(page.error);
    } else this.failed = null;
    this.store.loaded = true;
    for (const id of this.o.had?.open ?? []) if (this.store.posts.has(id)) await this.openThread(id);
    this.sync();
    this.renderMore();
  }

  /** Ask for the first page of posts again, after it failed. */
  private async refill(): Promise<void> {
    if (this.fillTimer) clearTimeout(this.fillTimer);
    this.fillTimer = null;
    if (this.disposed || this.failed === null || this.loading) return;
    this.loading = true;
    this.renderMore();
    const r = await this.o.load(null);
    this.loading = false;
    if (this.disposed) return;
    if (r.ok) {
      this.failed = null;
      const data = r.data as { posts?: unknown; next?: unknown };
      this.store.addPage(arrayOf<BasePost>(data.posts), data.next ?? null);
      this.syncList(this.list, this.store.timeline);
    } else if (r.error.code !== 'E_OFFLINE') this.askAgain(r.error);
    this.renderMore();
  }

  /** The first page of posts did not come: say why, and ask again later, backing off. */
  private askAgain(error: { message: string; retryMs?: number }): void {
    this.failed = error.message;
    if (this.fillTimer) clearTimeout(this.fillTimer);
    this.fillTimer = setTimeout(() => void this.refill(), busyDelay(this.fillTries++, error.retryMs));
  }

  state(): PageState {
    return { size: this.store.timeline.length, open: [...this.store.threads.keys()] };
  }

  dispose(): void {
    this.disposed = true;
    if (this.fillTimer) clearTimeout(this.fillTimer);
    this.observer.disconnect();
    if (this.heardTimer) clearTimeout(this.heardTimer);
  }

  /** Re-render every card (the signed-in person changed, or a migration marked some). */
  rerender(): void {
    for (const id of this.entries.keys()) this.renderCard(id);
  }

  event(event: ViewEvent): void {
    if (event.type === 'post' && isPost(event.post)) {
      const post = event.post;
      if (this.store.posts.has(post.id)) return;
      if ((this.o.accepts ?? ((p: BasePost) => p.replyTo === null))(post)) return this.arrive(post);
      if (post.replyTo !== null && this.store.threads.has(post.replyTo)) return this.apply(this.store.apply(event, this.o.view as FeedView, this.me()));
      return;
    }
    const extra = this.o.fold?.(event, this.store) ?? [];
    for (const id of extra) this.renderCard(id);
    this.apply(this.store.apply(event, this.o.view as FeedView, this.me()));
  }

  private me(): string | null {
    return this.o.api.me?.id ?? null;
  }

  // ------------------------------------------------------------------ new posts

  /** A live post for the top of the list: shown at once when the top is in view or it is mine. */
  private arrive(post: BasePost): void {
    if (post.author.id === this.me() || this.atTop()) {
      // the posts held behind the pill are older: they go on top first, or the list would not be
      // newest first once they are shown
      this.insertPending();
      this.apply(this.store.insertTop(post));
      this.entries.get(post.id)?.li.classList.add('arrived');
      this.hear(1);
      return;
    }
    if (!this.pending.some((p) => p.id === post.id)) this.pending.unshift(post);
    this.renderPill();
    this.hear(1);
  }

  private atTop(): boolean {
    const header = document.querySelector('.topbar')?.getBoundingClientRect().bottom ?? 0;
    return this.list.getBoundingClientRect().top >= header - 8;
  }

  /** The posts held behind the pill, oldest first, on top of the list. */
  private insertPending(): void {
    if (this.pending.length === 0) return;
    const posts = this.pending.reverse();
    this.pending = [];
    for (const post of posts) this.apply(this.store.insertTop(post));
    this.renderPill();
  }

  private showPending(): void {
    this.insertPending();
    const top = this.el.getBoundingClientRect().top + window.scrollY - (document.querySelector('.topbar')?.getBoundingClientRect().height ?? 0) - 12;
    window.scrollTo({ top: Math.max(0, top) });
    (this.list.querySelector('article') as HTMLElement | null)?.focus({ preventScroll: true });
  }

  private renderPill(): void {
    const n = this.pending.length;
    this.pill.hidden = n === 0;
    this.pill.textContent = n === 1 ? '↑ 1 new post' : `↑ ${n} new posts`;
  }

  /** Tell screen readers, once a burst settles, how many posts came. */
  private hear(n: number): void {
    this.heard += n;
    if (this.heardTimer) clearTimeout(this.heardTimer);
    this.heardTimer = setTimeout(() => {
      this.o.api.announce(this.heard === 1 ? '1 new post' : `${this.heard} new posts`);
      this.heard = 0;
    }, 1500);
  }

  // ------------------------------------------------------------------ loading

  private async loadOlder(): Promise<void> {
    if (!this.store.loaded || this.store.next === null || this.loading || this.disposed) return;
    this.loading = true;
    this.more.dataset.state = 'loading';
    const before = this.store.timeline.length;
    // a filtered list may answer with fewer posts than asked for: go on until some come or it ends
    for (let tries = 0; tries < 20 && this.store.next !== null && this.store.timeline.length === before; tries++) {
      const r = await this.o.load(this.store.next);
      if (!r.ok) {
        this.o.api.toast(r.error.message);
        break;
      }
      const data = r.data as { posts?: unknown; next?: unknown };
      this.store.addPage(arrayOf<BasePost>(data.posts), data.next ?? null);
    }
    this.loading = false;
    this.syncList(this.list, this.store.timeline);
    this.renderMore();
  }

  private renderMore(): void {
    const more = this.more;
    if (!this.store.loaded || (this.loading && this.failed !== null)) {
      more.dataset.state = 'loading';
      more.replaceChildren(h('span.spinner', { 'aria-hidden': 'true' }), 'Loading…');
    } else if (this.failed !== null && this.store.timeline.length === 0) {
      more.dataset.state = 'failed';
      more.replaceChildren(
        h('div.empty', { role: 'status' }, h('strong', {}, 'Could not load the posts yet'), h('span', {}, `${this.failed} Trying again…`)),
        h('button.ghost.wide', { type: 'button', onclick: () => void this.refill() }, 'Try again now'),
      );
    } else if (this.store.timeline.length === 0 && this.store.next === null) {
      more.dataset.state = 'empty';
      more.replaceChildren(h('div.empty', {}, h('div.empty-art', { 'aria-hidden': 'true' }, '🌱'), h('strong', {}, this.o.empty.title), this.o.empty.hint ? h('span', {}, this.o.empty.hint) : null));
    } else if (this.store.next !== null) {
      more.dataset.state = 'more';
      more.replaceChildren(h('button.ghost.wide', { type: 'button', onclick: () => void this.loadOlder() }, 'Load older posts'));
    } else {
      more.dataset.state = 'end';
      more.replaceChildren(h('span.end', {}, 'You are all caught up.'));
    }
  }

  // ------------------------------------------------------------------ rendering

  private apply(changes: readonly Change[]): void {
    if (changes.length === 0) return;
    const anchor = anchorOf(this.list);
    for (const c of changes) {
      if (c.kind === 'update') this.renderCard(c.id);
      else if (c.kind === 'remove') {
        this.entries.get(c.id)?.li.remove();
        this.entries.delete(c.id);
        this.pending = this.pending.filter((p) => p.id !== c.id);
        this.renderPill();
      } else if (c.parent === null) this.syncList(this.list, this.store.timeline);
      else {
        const parent = this.entries.get(c.parent);
        if (parent) this.syncList(parent.replies, this.store.threads.get(c.parent) ?? []);
      }
    }
    restoreAnchor(anchor);
    this.renderMore();
  }

  private sync(): void {
    this.syncList(this.list, this.store.timeline);
    for (const [id, replies] of this.store.threads) {
      const entry = this.entries.get(id);
      if (entry) this.syncList(entry.replies, replies);
    }
  }

  /** Put `ids` in `list` in order, reusing entries; nodes already in place are not moved, so a
   *  focused reply composer inside one keeps its focus. */
  private syncList(list: HTMLElement, ids: readonly string[]): void {
    const wanted = new Set(ids);
    for (const child of [...list.children] as HTMLElement[]) if (!wanted.has(child.dataset.id ?? '')) child.remove();
    ids.forEach((id, i) => {
      const entry = this.entry(id);
      if (list.children[i] !== entry.li) list.insertBefore(entry.li, list.children[i] ?? null);
    });
  }

  private entry(id: string): Entry {
    let entry = this.entries.get(id);
    if (!entry) {
      const cardSlot = h('div.card-slot');
      const extras = h('div.extras');
      const replies = h('ol.replies');
      const li = h('li.entry', { 'data-id': id }, cardSlot, extras, replies);
      entry = { li, cardSlot, replies, extras };
      this.entries.set(id, entry);
      this.renderCard(id);
      // a reply draft from before (another page, an upgrade) comes back where it was
      if (this.o.api.hasComposer(`reply-${id}`)) this.openReply(id, false);
    }
    return entry;
  }

  renderCard(id: string): void {
    const entry = this.entries.get(id);
    const post = this.store.posts.get(id);
    if (!entry || !post) return;
    const api = this.cardApi(entry);
    let card: HTMLElement;
    try {
      card = this.o.view.renderPost(post, api);
    } catch (err) {
      console.error(`v${this.o.view.version} view failed to render post ${id}`, err);
      card = h('article.post', { 'data-post': id }, h('p.post-text', {}, post.text));
    }
    if (this.o.api.migrated(id)) card.classList.add('migrated');
    const focused = entry.cardSlot.contains(document.activeElement) ? focusKey(document.activeElement as HTMLElement) : null;
    entry.cardSlot.replaceChildren(card);
    if (focused) (card.matches(focused) ? card : card.querySelector<HTMLElement>(focused))?.focus();
  }

  private cardApi(entry: Entry): ViewApi & { extras(): HTMLElement } {
    const { api } = this.o;
    return {
      me: api.me,
      commands: api.commands,
      command: async (type, fields) => {
        const r = await api.command(type, fields);
        // A disabled button waits for an event that will not come: put the card back as it was.
        if (!r.ok && typeof fields.post === 'string') this.renderCard(fields.post);
        return r;
      },
      reply: (id) => this.openReply(id, true),
      toggleThread: (id) => void this.toggleThread(id),
      remove: (id) => this.confirmDelete(id),
      threadOpen: (id) => this.store.threads.has(id),
      extras: () => entry.extras,
    };
  }

  // ------------------------------------------------------------------ threads, replies, delete

  private async openThread(id: string): Promise<boolean> {
    const r = await this.o.api.request('thread', { post: id });
    if (!r.ok) {
      this.o.api.toast(r.error.message);
      return false;
    }
    const data = r.data as { post?: BasePost; replies?: unknown };
    if (!data.post) return false;
    this.store.setThread(data.post, arrayOf<BasePost>(data.replies));
    return true;
  }

  private async toggleThread(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (this.store.threads.has(id)) {
      this.store.closeThread(id);
      this.syncList(entry.replies, []);
      if (!this.o.api.hasComposer(`reply-${id}`)) entry.li.classList.remove('open');
      return this.renderCard(id);
    }
    if (!(await this.openThread(id))) return;
    entry.li.classList.add('open');
    this.syncList(entry.replies, this.store.threads.get(id) ?? []);
    this.renderCard(id);
  }

  private openReply(id: string, focus: boolean): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    const post = this.store.posts.get(id);
    const c = this.o.api.composer(`reply-${id}`, {
      placeholder: `Reply to @${post?.author.handle ?? 'them'}`,
      submitLabel: 'Reply',
      rows: 2,
      cancellable: true,
      submit: (text) => this.o.api.request('post', { text, replyTo: id }),
      done: (ok) => {
        // sent or cancelled from the keyboard: go on from its post, not from the top of the page (a
        // Reply button disabled while the reply is sent drops its focus to the body)
        const active = document.activeElement;
        const hadFocus = active === null || active === document.body || c.el.contains(active);
        this.closeReply(id);
        if (hadFocus) entry.cardSlot.querySelector<HTMLElement>('.act.reply')?.focus();
        if (ok && !this.store.threads.has(id)) void this.toggleThread(id);
      },
    });
    if (c.el.parentElement !== entry.extras) entry.extras.append(c.el);
    entry.li.classList.add('open');
    if (focus) c.focus();
  }

  private closeReply(id: string): void {
    this.o.api.dropComposer(`reply-${id}`);
    const entry = this.entries.get(id);
    if (entry && !this.store.threads.has(id)) entry.li.classList.remove('open');
  }

  private confirmDelete(id: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.extras.querySelector('.confirm')) return;
    const bar = h(
      'div.confirm',
      { role: 'alertdialog', 'aria-label': 'Delete this post?' },
      h('span', {}, 'Delete this post? This cannot be undone.'),
      h('button.ghost', { type: 'button', onclick: () => bar.remove() }, 'Keep'),
      h('button.danger', {
        type: 'button',
        onclick: async () => {
          bar.remove();
          await this.o.api.command('delete', { post: id });
        },
      }, 'Delete'),
    );
    entry.extras.prepend(bar);
    (bar.querySelector('button.danger') as HTMLButtonElement).focus();
  }
}

/** The first entry of `list` visible below the header, and where it is, so a change can put it back. */
export function anchorOf(root: ParentNode): { el: HTMLElement; top: number } | null {
  if (window.scrollY <= 0) return null;
  const header = document.querySelector('.topbar')?.getBoundingClientRect().bottom ?? 0;
  for (const el of root.querySelectorAll<HTMLElement>('[data-id]')) {
    const r = el.getBoundingClientRect();
    if (r.bottom > header) return { el, top: r.top };
  }
  return null;
}

export function restoreAnchor(anchor: { el: HTMLElement; top: number } | null): void {
  if (anchor && anchor.el.isConnected) window.scrollBy(0, anchor.el.getBoundingClientRect().top - anchor.top);
}

export function arrayOf<T>(x: unknown): T[] {
  return Array.isArray(x) ? (x as T[]) : [];
}

function isPost(x: unknown): x is BasePost {
  return typeof x === 'object' && x !== null && typeof (x as BasePost).id === 'string' && typeof (x as BasePost).text === 'string';
}

/** A selector that finds "the same control" in a re-rendered card. */
export function focusKey(el: HTMLElement): string | null {
  if (el.matches('article.post')) return 'article.post';
  const cls = [...el.classList].map((c) => '.' + CSS.escape(c)).join('');
  if (!cls) return null;
  const emoji = el.dataset.emoji;
  return emoji ? `${el.tagName.toLowerCase()}${cls}[data-emoji="${CSS.escape(emoji)}"]` : `${el.tagName.toLowerCase()}${cls}`;
}
