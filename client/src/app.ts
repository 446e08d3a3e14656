/**
 * The page shell: loaded once, never swapped. It owns the socket, the session, the timeline cache,
 * the composers (drafts), scroll position and the upgrade panel. Each version's view module only
 * renders cards (view-contract.ts), so an upgrade swaps the module, refills the cache in the new
 * shape and re-renders cards in place: drafts, focus and scroll stay where they were.
 *
 *   hello ──▶ resume session ──▶ load view (import) ──▶ timeline ──▶ live events
 *   upgrade frames ──▶ panel; committed ──▶ same as a new hello, without reconnecting
 *   socket closed ──▶ backoff ──▶ hello ──▶ resume ──▶ $since seq (E_GAP: refill the timeline)
 */
import type { EventFrame, HelloFrame, UpgradeFrame } from '../../src/transport/protocol.ts';
import { composer, type Composer } from './composer.ts';
import { handleProblem } from './draft.ts';
import { fallbackView } from './fallback-view.ts';
import { FeedStore, type Change } from './feed-store.ts';
import { renderUpgrade, short } from './upgrade-panel.ts';
import { foldUpgrade, type UpgradeModel } from './upgrade-model.ts';
import type { BasePost, CommandResult, FeedView, User, ViewApi, ViewEvent } from './view-contract.ts';
import { h, hue, timeAgo } from './view-kit.ts';
import { Wire, type WireState } from './wire.ts';

const TOKEN_KEY = 'molt.token';
const PAGE = 20;
/** How long a finished upgrade's details stay open before the panel folds to its headline. */
const PANEL_OPEN_MS = 15_000;

interface Entry {
  readonly li: HTMLElement;
  readonly cardSlot: HTMLElement;
  readonly replies: HTMLElement;
  readonly extras: HTMLElement;
  composer: Composer | null;
}

export class App {
  private readonly wire: Wire;
  private readonly store = new FeedStore();
  private readonly entries = new Map<string, Entry>();
  private view: FeedView = fallbackView(0);
  private hello: HelloFrame | null = null;
  private me: User | null = null;
  private lastSeq = -1;
  private online = new Map<string, User>();
  private upgrade: UpgradeModel | null = null;
  private panelClosed = false;
  private panelCollapsed = false;
  private panelShown: string | null = null;
  private collapseTimer: ReturnType<typeof setTimeout> | null = null;
  private wireState: WireState = { kind: 'connecting', attempt: 0 };
  /** While the page swaps views or refills the timeline, live events wait here. */
  private held: EventFrame[] | null = null;
  private readonly viewCache = new Map<string, FeedView>();
  private main: Composer | null = null;

  private readonly $ = {
    status: byId('status'),
    me: byId('me'),
    timeline: byId('timeline'),
    more: byId('more'),
    online: byId('online'),
    upgrade: byId('upgrade'),
    toasts: byId('toasts'),
    viewCss: byId('view-css'),
  };

  constructor(wsUrl: string) {
    this.wire = new Wire(wsUrl, {
      hello: (f) => void this.onHello(f),
      event: (f) => this.onEvent(f),
      upgrade: (f) => void this.onUpgrade(f),
      state: (s) => {
        this.wireState = s;
        this.renderStatus();
      },
      frameError: (e) => this.toast(e.message),
    });
  }

  start(): void {
    this.renderMe();
    this.renderStatus();
    this.wire.start();
    setInterval(() => {
      for (const t of document.querySelectorAll<HTMLElement>('time[data-at]')) t.textContent = timeAgo(Number(t.dataset.at));
      if (this.wireState.kind === 'waiting') this.renderStatus();
    }, 1000);
    new IntersectionObserver((seen) => {
      if (seen.some((e) => e.isIntersecting)) void this.loadOlder();
    }).observe(this.$.more);
    // For tests and the curious: window.molt.drop() simulates a network failure.
    (window as unknown as { molt: unknown }).molt = {
      drop: () => this.wire.drop(),
      state: () => ({ version: this.hello?.version, release: this.hello?.release, view: this.view.label, seq: this.lastSeq, me: this.me, wire: this.wireState.kind }),
    };
  }

  // ------------------------------------------------------------------ connection

  private async onHello(hello: HelloFrame): Promise<void> {
    const first = this.hello === null;
    const restarted = !first && hello.seq < this.lastSeq;
    const sameRelease = !first && this.hello!.release === hello.release;
    this.hello = hello;
    this.held = [];
    await this.resume();
    const online = await this.wire.request('online');
    if (online.ok) this.setOnline(arrayOf<User>((online.data as { users?: unknown }).users));
    if (sameRelease && !restarted && this.store.loaded) {
      const since = await this.wire.request('$since', { seq: this.lastSeq });
      if (since.ok) {
        const events = arrayOf<EventFrame>((since.data as { events?: unknown }).events);
        const held = this.held ?? [];
        this.held = null;
        for (const e of [...events, ...held]) this.onEvent(e);
        this.renderStatus();
        return;
      }
      // E_GAP (or anything else): the missed events are gone; refill from the timeline.
    }
    this.lastSeq = hello.seq;
    await this.switchTo(hello);
  }

  private async resume(): Promise<void> {
    const token = localStorage.getItem(TOKEN_KEY);
    if (!token) return this.setMe(null);
    const r = await this.wire.request('resume', { token });
    if (r.ok) return this.setMe(userOf((r.data as { user?: unknown }).user));
    if (r.error.code === 'E_OFFLINE') return;
    localStorage.removeItem(TOKEN_KEY);
    this.setMe(null);
  }

  private onEvent(frame: EventFrame): void {
    if (this.held) {
      this.held.push(frame);
      return;
    }
    if (frame.seq <= this.lastSeq) return;
    this.lastSeq = frame.seq;
    const event = frame.event as ViewEvent;
    if (event.type === 'presence') {
      const user = userOf(event.user);
      if (user && event.online) this.online.set(user.id, user);
      else if (user) this.online.delete(user.id);
      return this.renderOnline();
    }
    // An event from another version than the view's has a shape this view may not know; the
    // committed upgrade (or the next hello) refills the cache in the right shape.
    if (frame.version !== this.view.version && this.view.label !== 'plain') return;
    this.applyChanges(this.store.apply(event, this.view, this.me?.id ?? null));
  }

  private async onUpgrade(frame: UpgradeFrame): Promise<void> {
    if (this.upgrade?.id !== frame.upgrade) {
      this.panelClosed = false;
      this.panelCollapsed = false;
      if (this.collapseTimer) clearTimeout(this.collapseTimer);
    }
    this.upgrade = foldUpgrade(this.upgrade, frame);
    if (this.upgrade.outcome !== 'running') {
      // Leave the story up long enough to read, then fold it to its headline.
      const id = frame.upgrade;
      if (this.collapseTimer) clearTimeout(this.collapseTimer);
      this.collapseTimer = setTimeout(() => {
        if (this.upgrade?.id !== id) return;
        this.panelCollapsed = true;
        this.renderUpgrade();
      }, PANEL_OPEN_MS);
    }
    this.renderUpgrade();
    this.renderStatus();
    if (frame.phase === 'committed' && frame.hello) {
      this.hello = frame.hello;
      this.held = [];
      await this.switchTo(frame.hello);
    }
  }

  /** Load the release's view and refill the cache in its shape, keeping drafts, focus and scroll. */
  private async switchTo(hello: HelloFrame): Promise<void> {
    this.held ??= [];
    const view = await this.loadView(hello);
    const keep = Math.max(PAGE, this.store.timeline.length);
    const openThreads = [...this.store.threads.keys()];
    const anchor = this.anchor();
    const fresh = new FeedStore();
    let page = await this.wire.request('timeline', { limit: PAGE });
    // Events that arrived before the first page are already in it.
    this.held = [];
    while (page.ok) {
      const data = page.data as { posts?: unknown; next?: unknown };
      fresh.addPage(arrayOf<BasePost>(data.posts), data.next ?? null);
      if (fresh.next === null || fresh.timeline.length >= keep) break;
      page = await this.wire.request('timeline', { before: fresh.next, limit: PAGE });
    }
    if (!page.ok) this.toast(`Could not load the timeline: ${page.error.message}`);
    for (const id of openThreads) {
      const t = await this.wire.request('thread', { post: id });
      if (t.ok) {
        const data = t.data as { post?: BasePost; replies?: unknown };
        if (data.post) fresh.setThread(data.post, arrayOf<BasePost>(data.replies));
      }
    }
    this.view = view;
    this.$.viewCss.textContent = view.css ?? '';
    this.replaceStore(fresh);
    this.renderAll();
    this.restore(anchor);
    this.renderStatus();
    document.body.dataset.version = String(hello.version);
    const held = this.held ?? [];
    this.held = null;
    for (const e of held) this.onEvent(e);
  }

  private async loadView(hello: HelloFrame): Promise<FeedView> {
    if (!hello.view) return fallbackView(hello.version);
    const cached = this.viewCache.get(hello.view);
    if (cached) return cached;
    try {
      const mod = (await import(/* @vite-ignore */ hello.view)) as { default?: FeedView; view?: FeedView };
      const view = mod.default ?? mod.view;
      if (!view || typeof view.renderPost !== 'function' || typeof view.reduce !== 'function') throw new Error('the module does not export a FeedView');
      this.viewCache.set(hello.view, view);
      return view;
    } catch (err) {
      this.toast(`Could not load v${hello.version}'s view (${(err as Error).message}); showing plain posts.`);
      return fallbackView(hello.version);
    }
  }

  private replaceStore(fresh: FeedStore): void {
    this.store.clear();
    for (const [id, post] of fresh.posts) this.store.posts.set(id, post);
    this.store.timeline = fresh.timeline;
    for (const [id, replies] of fresh.threads) this.store.threads.set(id, replies);
    this.store.next = fresh.next;
    this.store.loaded = true;
  }

  // ------------------------------------------------------------------ session

  private setMe(user: User | null): void {
    const changed = this.me?.id !== user?.id;
    this.me = user;
    if (changed) {
      this.renderMe();
      this.rerenderCards();
    }
  }

  private async join(handle: string): Promise<CommandResult> {
    const r = await this.wire.request('join', { handle: handle.trim() });
    if (r.ok) {
      const data = r.data as { user?: unknown; token?: unknown };
      if (typeof data.token === 'string') localStorage.setItem(TOKEN_KEY, data.token);
      this.setMe(userOf(data.user));
      // liked/mine are per caller: refetch so the cards show my own marks.
      await this.switchTo(this.hello!);
    }
    return r;
  }

  private async leave(): Promise<void> {
    // Sending the token revokes it, so the session cannot be resumed from this browser's storage.
    const token = localStorage.getItem(TOKEN_KEY);
    await this.wire.request('leave', token ? { token } : {});
    localStorage.removeItem(TOKEN_KEY);
    this.setMe(null);
  }

  // ------------------------------------------------------------------ the feed

  private api(): ViewApi {
    return {
      me: this.me,
      commands: this.hello?.commands ?? [],
      command: (type, fields) => this.command(type, fields),
      reply: (id) => this.openReply(id),
      toggleThread: (id) => void this.toggleThread(id),
      remove: (id) => this.confirmDelete(id),
      threadOpen: (id) => this.store.threads.has(id),
    };
  }

  private async command(type: string, fields: Record<string, unknown>): Promise<CommandResult> {
    const r = await this.wire.request(type, fields);
    if (!r.ok) {
      this.toast(r.error.message);
      // A disabled button waits for an event that will not come: put the card back as it was.
      const id = typeof fields.post === 'string' ? fields.post : null;
      if (id) this.renderCard(id);
    }
    return r;
  }

  private async loadOlder(): Promise<void> {
    if (!this.store.loaded || this.store.next === null || this.held) return;
    this.$.more.dataset.state = 'loading';
    const r = await this.wire.request('timeline', { before: this.store.next, limit: PAGE });
    if (r.ok) {
      const data = r.data as { posts?: unknown; next?: unknown };
      this.store.addPage(arrayOf<BasePost>(data.posts), data.next ?? null);
      this.syncList(this.$.timeline, this.store.timeline);
    } else this.toast(r.error.message);
    this.renderMore();
  }

  private async toggleThread(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (this.store.threads.has(id)) {
      this.store.closeThread(id);
      this.syncList(entry.replies, []);
      if (entry.composer === null) entry.li.classList.remove('open');
      return this.renderCard(id);
    }
    const r = await this.wire.request('thread', { post: id });
    if (!r.ok) return this.toast(r.error.message);
    const data = r.data as { post?: BasePost; replies?: unknown };
    if (!data.post) return;
    this.store.setThread(data.post, arrayOf<BasePost>(data.replies));
    entry.li.classList.add('open');
    this.syncList(entry.replies, this.store.threads.get(id) ?? []);
    this.renderCard(id);
  }

  private openReply(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (!entry.composer) {
      const post = this.store.posts.get(id);
      entry.composer = composer({
        name: `reply-${id}`,
        placeholder: `Reply to @${post?.author.handle ?? 'them'}`,
        submitLabel: 'Reply',
        rows: 2,
        submit: async (text) => {
          const r = await this.wire.request('post', { text, replyTo: id });
          if (r.ok) {
            this.closeReply(id);
            if (!this.store.threads.has(id)) void this.toggleThread(id);
          }
          return r;
        },
        cancel: () => this.closeReply(id),
      });
      entry.extras.append(entry.composer.el);
      entry.li.classList.add('open');
    }
    entry.composer.focus();
  }

  private closeReply(id: string): void {
    const entry = this.entries.get(id);
    if (!entry?.composer) return;
    entry.composer.el.remove();
    entry.composer = null;
    if (!this.store.threads.has(id)) entry.li.classList.remove('open');
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
          await this.command('delete', { post: id });
        },
      }, 'Delete'),
    );
    entry.extras.prepend(bar);
    (bar.querySelector('button.danger') as HTMLButtonElement).focus();
  }

  // ------------------------------------------------------------------ rendering

  private applyChanges(changes: readonly Change[]): void {
    if (changes.length === 0) return;
    const anchor = this.anchor();
    for (const c of changes) {
      if (c.kind === 'update') this.renderCard(c.id);
      else if (c.kind === 'remove') {
        const entry = this.entries.get(c.id);
        entry?.li.remove();
        this.entries.delete(c.id);
      } else if (c.parent === null) this.syncList(this.$.timeline, this.store.timeline);
      else {
        const parent = this.entries.get(c.parent);
        if (parent) this.syncList(parent.replies, this.store.threads.get(c.parent) ?? []);
      }
    }
    this.restore(anchor);
    this.renderMore();
  }

  private renderAll(): void {
    for (const id of [...this.entries.keys()]) {
      if (!this.store.posts.has(id)) {
        this.entries.get(id)!.li.remove();
        this.entries.delete(id);
      }
    }
    this.syncList(this.$.timeline, this.store.timeline);
    for (const [id, replies] of this.store.threads) {
      const entry = this.entries.get(id);
      if (entry) this.syncList(entry.replies, replies);
    }
    this.rerenderCards();
    this.renderMore();
  }

  private rerenderCards(): void {
    for (const id of this.entries.keys()) this.renderCard(id);
    this.renderMe();
  }

  /** Put `ids` in `list` in order, reusing entries; nodes already in place are not moved, so a
   *  focused reply composer inside one keeps its focus. */
  private syncList(list: HTMLElement, ids: readonly string[]): void {
    const wanted = new Set(ids);
    for (const child of [...list.children] as HTMLElement[]) {
      if (!wanted.has(child.dataset.id ?? '')) child.remove();
    }
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
      entry = { li, cardSlot, replies, extras, composer: null };
      this.entries.set(id, entry);
      this.renderCard(id);
    }
    return entry;
  }

  private renderCard(id: string): void {
    const entry = this.entries.get(id);
    const post = this.store.posts.get(id);
    if (!entry || !post) return;
    let card: HTMLElement;
    try {
      card = this.view.renderPost(post, this.api());
    } catch (err) {
      console.error(`v${this.view.version} view failed to render post ${id}`, err);
      card = fallbackView(this.view.version).renderPost(post, this.api());
    }
    const focused = entry.cardSlot.contains(document.activeElement) ? focusKey(document.activeElement as HTMLElement) : null;
    entry.cardSlot.replaceChildren(card);
    if (focused) (card.querySelector<HTMLElement>(focused) ?? null)?.focus();
  }

  private renderMore(): void {
    const more = this.$.more;
    if (!this.store.loaded) {
      more.dataset.state = 'loading';
      more.replaceChildren(h('span.spinner', { 'aria-hidden': 'true' }), 'Loading the feed…');
    } else if (this.store.timeline.length === 0) {
      more.dataset.state = 'empty';
      more.replaceChildren(h('div.empty', {}, h('div.empty-art', { 'aria-hidden': 'true' }, '🌱'), h('strong', {}, 'No posts yet'), h('span', {}, this.me ? 'Say hello: the first post sets the tone.' : 'Join to write the first post.')));
    } else if (this.store.next !== null) {
      more.dataset.state = 'more';
      more.replaceChildren(h('button.ghost.wide', { type: 'button', onclick: () => void this.loadOlder() }, 'Load older posts'));
    } else {
      more.dataset.state = 'end';
      more.replaceChildren(h('span.end', {}, 'You are all caught up.'));
    }
  }

  private renderMe(): void {
    const slot = this.$.me;
    if (this.me) {
      if (slot.dataset.user === this.me.id && this.main) return;
      slot.dataset.user = this.me.id;
      const me = this.me;
      const keep = this.main?.textarea.value ?? '';
      this.main = composer({
        name: 'draft',
        placeholder: 'What is happening?',
        submitLabel: 'Post',
        submit: (text) => this.wire.request('post', { text }),
      });
      this.main.textarea.value = keep;
      this.main.textarea.dispatchEvent(new Event('input'));
      slot.replaceChildren(
        h(
          'div.compose-card',
          {},
          h(
            'div.whoami',
            {},
            h('span.avatar', { style: `--hue:${hue(me.handle)}`, 'aria-hidden': 'true' }, me.handle.slice(0, 1).toUpperCase()),
            h('span', {}, 'Posting as ', h('strong.handle', {}, '@' + me.handle)),
            h('button.link', { type: 'button', onclick: () => void this.leave() }, 'Sign out'),
          ),
          this.main.el,
        ),
      );
      return;
    }
    if (slot.dataset.user === '' && slot.firstChild) return;
    slot.dataset.user = '';
    this.main = null;
    const input = h('input', { name: 'handle', autocomplete: 'nickname', placeholder: 'your handle', 'aria-label': 'Handle', maxlength: 40, spellcheck: 'false' }) as HTMLInputElement;
    const error = h('p.inline-error', { role: 'alert', hidden: true });
    const button = h('button.primary', { type: 'submit' }, 'Join') as HTMLButtonElement;
    const form = h(
      'form.join',
      { novalidate: true },
      h('h1', {}, 'Join the conversation'),
      h('p.sub', {}, 'Pick a handle to post, reply and react. No password: your session stays in this browser.'),
      h('div.join-row', {}, h('span.at', { 'aria-hidden': 'true' }, '@'), input, button),
      error,
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const problem = handleProblem(input.value);
      if (problem) {
        error.textContent = problem;
        error.hidden = false;
        return;
      }
      button.disabled = true;
      const r = await this.join(input.value);
      button.disabled = false;
      if (!r.ok) {
        error.textContent = r.error.message;
        error.hidden = false;
        input.focus();
      }
    });
    input.addEventListener('input', () => (error.hidden = true));
    slot.replaceChildren(h('div.compose-card', {}, form));
  }

  private setOnline(users: User[]): void {
    this.online = new Map(users.filter((u) => u && typeof u.id === 'string').map((u) => [u.id, u]));
    this.renderOnline();
  }

  private renderOnline(): void {
    const users = [...this.online.values()].sort((a, b) => a.handle.localeCompare(b.handle));
    byId('online-count').textContent = String(users.length);
    this.$.online.replaceChildren(
      ...(users.length
        ? users.map((u) =>
            h(
              'li.person',
              { class: u.id === this.me?.id ? 'me' : null },
              h('span.avatar.small', { style: `--hue:${hue(u.handle)}`, 'aria-hidden': 'true' }, u.handle.slice(0, 1).toUpperCase()),
              h('span.handle', {}, '@' + u.handle),
              u.id === this.me?.id ? h('span.you', {}, 'you') : null,
            ),
          )
        : [h('li.nobody', {}, 'Nobody is here yet.')]),
    );
  }

  private renderStatus(): void {
    const s = this.wireState;
    let conn: string;
    if (s.kind === 'open') conn = 'Live';
    else if (s.kind === 'connecting') conn = s.attempt === 0 ? 'Connecting…' : 'Reconnecting…';
    else conn = `Offline · retrying in ${Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000))}s`;
    const upgrading = this.upgrade?.outcome === 'running';
    const parts: (HTMLElement | null)[] = [
      h('span.conn', { 'data-conn': s.kind, title: 'Connection' }, h('span.dot', { 'aria-hidden': 'true' }), conn),
      s.kind === 'waiting' ? h('button.link', { type: 'button', onclick: () => this.wire.retryNow() }, 'Retry now') : null,
      this.hello
        ? h(
            'span.release',
            { title: `Feed version ${this.hello.version}, release ${this.hello.release}` },
            h('span.version', {}, `v${this.hello.version}`),
            h('code.hash', {}, short(this.hello.release)),
            h('span.view-label', {}, this.view.label),
          )
        : null,
      upgrading ? h('span.upgrading', {}, this.upgrade!.direction === 'down' ? 'Rolling back…' : 'Upgrading…') : null,
    ];
    this.$.status.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private renderUpgrade(): void {
    const slot = this.$.upgrade;
    if (!this.upgrade || this.panelClosed) {
      slot.hidden = true;
      slot.replaceChildren();
      return;
    }
    slot.hidden = false;
    slot.replaceChildren(
      renderUpgrade(this.upgrade, {
        collapsed: this.panelCollapsed,
        fresh: this.panelShown !== this.upgrade.id,
        toggle: () => {
          if (this.collapseTimer) clearTimeout(this.collapseTimer);
          this.panelCollapsed = !this.panelCollapsed;
          this.renderUpgrade();
        },
        close: () => {
          this.panelClosed = true;
          this.renderUpgrade();
        },
      }),
    );
    this.panelShown = this.upgrade.id;
  }

  private toast(message: string): void {
    const t = h('div.toast', { role: 'status' }, message);
    this.$.toasts.append(t);
    setTimeout(() => t.classList.add('leaving'), 4000);
    setTimeout(() => t.remove(), 4400);
  }

  // ------------------------------------------------------------------ scroll

  /** The first entry visible below the header, and where it is, so a re-render can put it back. */
  private anchor(): { id: string; top: number } | null {
    if (window.scrollY <= 0) return null;
    const header = document.querySelector('.topbar')?.getBoundingClientRect().bottom ?? 0;
    for (const li of this.$.timeline.children as HTMLCollectionOf<HTMLElement>) {
      const r = li.getBoundingClientRect();
      if (r.bottom > header) return { id: li.dataset.id ?? '', top: r.top };
    }
    return null;
  }

  private restore(anchor: { id: string; top: number } | null): void {
    if (!anchor) return;
    const li = this.entries.get(anchor.id)?.li;
    if (li && li.isConnected) window.scrollBy(0, li.getBoundingClientRect().top - anchor.top);
  }
}

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el;
}

function arrayOf<T>(x: unknown): T[] {
  return Array.isArray(x) ? (x as T[]) : [];
}

function userOf(x: unknown): User | null {
  if (typeof x !== 'object' || x === null) return null;
  const u = x as { id?: unknown; handle?: unknown };
  return typeof u.id === 'string' && typeof u.handle === 'string' ? { id: u.id, handle: u.handle } : null;
}

/** A selector that finds "the same control" in a re-rendered card. */
function focusKey(el: HTMLElement): string | null {
  const cls = [...el.classList].map((c) => '.' + CSS.escape(c)).join('');
  if (!cls) return null;
  const emoji = el.dataset.emoji;
  return emoji ? `${el.tagName.toLowerCase()}${cls}[data-emoji="${CSS.escape(emoji)}"]` : `${el.tagName.toLowerCase()}${cls}`;
}
