/**
 * Feed v3's browser view. It owns the feed's regions (client/src/view-contract.ts): tabs for
 * everyone's posts, the Following timeline and notifications (with an unread badge); the pages at
 * /, /home, /notifications, /tags/<tag>, /@<handle> (a profile) and /@<handle>/<id> (a post and its
 * whole thread); and the handling of v3's own events. Cards show display names, link @mentions,
 * #tags and links (text stays text: every token is a text node), mark edits and keep v2's reactions.
 * Loaded by open pages when v3 commits; a rollback swaps it out and its pages go with it.
 */
import { postPath, profilePath, tagPath } from '../../../client/src/router.ts';
import { arrayOf, Timeline } from '../../../client/src/timeline.ts';
import type { BasePost, ComposerSpec, FeedView, Page, PageState, RegionApi, Regions, Route, UserId, ViewApi, ViewEvent } from '../../../client/src/view-contract.ts';
import { h, hue, timeAgo } from '../../../client/src/view-kit.ts';
import { tokenize } from '../lib/rich.ts';
import { css as cssV2, reactions, reduce as reduceV2, type PostV2 } from '../v2/view.ts';

export interface AuthorV3 {
  readonly id: string;
  readonly handle: string;
  readonly name: string;
}

export interface PostV3 extends PostV2 {
  readonly author: AuthorV3;
  readonly edited: number | null;
  readonly edits: number;
  readonly mentions: readonly { id: string; handle: string }[];
  readonly tags: readonly string[];
}

interface Profile extends AuthorV3 {
  readonly bio: string;
  readonly joined: number;
  readonly followers: number;
  readonly following: number;
  readonly followed: boolean;
  readonly followsYou: boolean;
}

interface NotificationV3 {
  readonly id: string;
  readonly type: 'mention' | 'reply' | 'reaction' | 'follow';
  readonly by: AuthorV3;
  readonly post: PostV3 | null;
  readonly emoji: string | null;
  readonly at: number;
  readonly read: boolean;
}

/** v3's limits for editing (src/feed/v3/limits.ts), copied so the bundle carries no feed code. */
export const EDIT_WINDOW_MS = 60 * 60 * 1000;
export const EDITS_MAX = 5;

type CardApi = ViewApi & { extras?(): HTMLElement };

// ------------------------------------------------------------------ cards

/** A post's text with its mentions, tags and links as links: only text nodes, never markup. */
export function richText(text: string, mentions: PostV3['mentions']): HTMLElement {
  const p = h('p.post-text');
  for (const t of tokenize(text)) {
    if (t.kind === 'mention') {
      const known = mentions.find((m) => m.handle.toLowerCase() === t.handle.toLowerCase());
      p.append(known ? h('a.mention', { href: profilePath(known.handle) }, t.text) : t.text);
    } else if (t.kind === 'tag') p.append(h('a.tag', { href: tagPath(t.tag) }, t.text));
    else if (t.kind === 'link') p.append(h('a.link-out', { href: t.href, rel: 'noopener noreferrer nofollow ugc', target: '_blank' }, t.text));
    else p.append(t.text);
  }
  return p;
}

function avatar(author: { handle: string; name?: string }, big = false): HTMLElement {
  const letter = (author.name || author.handle).codePointAt(0);
  return h(`span.avatar${big ? '.big' : ''}`, { style: `--hue:${hue(author.handle)}`, 'aria-hidden': 'true' }, letter === undefined ? '?' : String.fromCodePoint(letter).toUpperCase());
}

function canEdit(post: PostV3, me: string | null): boolean {
  return me === post.author.id && post.edits < EDITS_MAX && Date.now() - post.at < EDIT_WINDOW_MS;
}

/** One post. `region` (when a page renders it) adds editing and the edit history. */
export function card(post: PostV3, api: CardApi, region: RegionApi | null, opts: { focus?: boolean } = {}): HTMLElement {
  const me = api.me?.id ?? null;
  const mine = me === post.author.id;
  const profile = profilePath(post.author.handle);
  const link = postPath(post.author.handle, post.id);
  const name = post.author.name || post.author.handle;
  const editKey = `edit-${post.id}`;
  const extras = api.extras?.() ?? null;
  if (region && extras && region.hasComposer(editKey)) extras.append(editor(post, region, extras).el);
  const when = new Date(post.at);
  return h(
    `article.post${opts.focus ? '.focus' : ''}`,
    { 'data-post': post.id, class: mine ? 'mine' : null, 'aria-label': `Post by ${name} (@${post.author.handle}), ${timeAgo(post.at)}` },
    h(
      'header.post-head',
      {},
      h('a.avatar-link', { href: profile, tabindex: '-1', 'aria-hidden': 'true' }, avatar(post.author)),
      h('a.who', { href: profile }, h('strong.name', {}, name), h('span.handle', {}, '@' + post.author.handle)),
      h('span.dot', { 'aria-hidden': 'true' }, '·'),
      h('a.permalink', { href: link, title: when.toLocaleString() }, h('time', { 'data-at': post.at, datetime: when.toISOString() }, timeAgo(post.at))),
      post.edited !== null
        ? h(
            'button.edited',
            { type: 'button', title: `Edited ${new Date(post.edited).toLocaleString()}: show the earlier versions`, 'aria-expanded': 'false', onclick: (ev: Event) => region && extras && void toggleHistory(post, region, extras, ev.currentTarget as HTMLElement) },
            'edited',
          )
        : null,
    ),
    richText(post.text, post.mentions),
    h(
      'footer.post-actions',
      {},
      reactions(post, api),
      api.me ? h('button.act.reply', { type: 'button', onclick: () => api.reply(post.id) }, 'Reply') : null,
      post.replies > 0 ? h('a.act.thread', { href: link }, post.replies === 1 ? '1 reply' : `${post.replies} replies`) : null,
      region && extras && canEdit(post, me)
        ? h('button.act.edit', { type: 'button', onclick: () => editor(post, region, extras, true) }, 'Edit')
        : null,
      mine ? h('button.act.delete', { type: 'button', title: 'Delete this post', onclick: () => api.remove(post.id) }, 'Delete') : null,
    ),
  );
}

/** The shell-owned composer that edits a post: its draft survives re-renders and upgrades. */
function editor(post: PostV3, region: RegionApi, extras: HTMLElement, focus = false): { el: HTMLElement } {
  const key = `edit-${post.id}`;
  const c = region.composer(key, {
    placeholder: 'Edit your post',
    submitLabel: 'Save',
    rows: 2,
    initial: post.text,
    cancellable: true,
    submit: (text) => region.request('edit', { post: post.id, text }),
    done: () => region.dropComposer(key),
  });
  if (c.el.parentElement !== extras) extras.append(c.el);
  if (focus) c.focus();
  return c;
}

async function toggleHistory(post: PostV3, region: RegionApi, extras: HTMLElement, button: HTMLElement): Promise<void> {
  const open = extras.querySelector(`.history[data-post="${post.id}"]`);
  if (open) {
    open.remove();
    button.setAttribute('aria-expanded', 'false');
    return;
  }
  const r = await region.request('history', { post: post.id });
  if (!r.ok) return region.toast(r.error.message);
  const versions = arrayOf<{ text: string; at: number }>((r.data as { versions?: unknown }).versions);
  const list = h(
    'div.history',
    { 'data-post': post.id },
    h('p.history-title', {}, `${versions.length} versions, oldest first`),
    h('ol', {}, ...versions.map((v, i) => h('li', { class: i === versions.length - 1 ? 'current' : null }, h('time', { datetime: new Date(v.at).toISOString() }, new Date(v.at).toLocaleString()), h('p', {}, v.text)))),
  );
  extras.append(list);
  button.setAttribute('aria-expanded', 'true');
}

/** v2's reactions, plus edits (the event carries the post as its author sees it: keep my marks). */
export function reduce(post: PostV3, event: ViewEvent, me: UserId | null): PostV3 | null {
  if (event.type === 'edit') {
    const next = event.post as PostV3 | undefined;
    if (!next || next.id !== post.id || (post.edited !== null && (next.edited ?? 0) < post.edited)) return null;
    return { ...next, mine: post.mine };
  }
  return reduceV2(post, event, me) as PostV3 | null;
}

/** A new display name reaches every card by that person. */
function renamed(event: ViewEvent, posts: Map<string, BasePost>): string[] {
  if (event.type !== 'profile') return [];
  const user = event.user as AuthorV3 | undefined;
  if (!user) return [];
  const changed: string[] = [];
  for (const [id, post] of posts) {
    if (post.author.id !== user.id) continue;
    posts.set(id, { ...post, author: { id: user.id, handle: user.handle, name: user.name } });
    changed.push(id);
  }
  return changed;
}

// ------------------------------------------------------------------ regions

function regions(api: RegionApi): Regions {
  const me = api.me;
  let unread = 0;
  const badge = h('span.badge', { hidden: true, 'aria-label': '0 unread' });
  const setUnread = (n: number): void => {
    unread = n;
    badge.hidden = n === 0;
    badge.textContent = String(n);
    badge.setAttribute('aria-label', `${n} unread`);
  };
  const nav = h(
    'div.tabs',
    {},
    h('a', { href: '/' }, 'Everyone'),
    me ? h('a', { href: '/home' }, 'Following') : null,
    me ? h('a', { href: '/notifications' }, 'Notifications', badge) : null,
    me ? h('a', { href: profilePath(me.handle) }, 'Profile') : null,
  );
  if (me) void api.request('notifications', { limit: 1 }).then((r) => r.ok && setUnread(Number((r.data as { unread?: unknown }).unread) || 0));
  const cardView = { version: 3, reduce, renderPost: (post: BasePost, cardApi: ViewApi) => card(post as PostV3, cardApi as CardApi, api) };

  const timeline = (had: PageState | null, o: { load: (before: unknown) => Promise<import('../../../client/src/view-contract.ts').CommandResult>; accepts?(p: BasePost): boolean; flat?: boolean; label: string; empty: { title: string; hint?: string } }) =>
    new Timeline({ api, view: cardView, fold: (e, store) => renamed(e, store.posts), had, ...o });
  const pageOf = (t: Timeline, title: string, compose: boolean, head?: HTMLElement, extra?: (e: ViewEvent) => void): Page => ({
    el: head ? h('div', {}, head, t.el) : t.el,
    title,
    compose,
    ready: t.ready,
    event: (e) => {
      extra?.(e);
      t.event(e);
    },
    state: () => t.state(),
    dispose: () => t.dispose(),
  });
  const paged = (type: string, fields: Record<string, unknown>) => (before: unknown) => api.request(type, { ...fields, limit: 20, ...(before === null ? {} : { before }) });
  const joinFirst = (title: string, what: string): Page => ({
    el: h('div.empty', {}, h('div.empty-art', { 'aria-hidden': 'true' }, '👋'), h('strong', {}, `Join to see ${what}`), h('span', {}, 'Pick a handle above; it takes a second.')),
    title,
    compose: true,
    ready: Promise.resolve(),
    event() {},
    state: () => ({ size: 0, open: [] }),
    dispose() {},
  });

  function page(route: Route, had: PageState | null): Page | null {
    switch (route.name) {
      case 'global':
        return pageOf(
          timeline(had, { load: paged('timeline', {}), label: 'Everyone’s posts', empty: { title: 'No posts yet', hint: me ? 'Say hello: the first post sets the tone.' : 'Join to write the first post.' } }),
          'Everyone',
          true,
        );
      case 'home':
        return me ? homePage(had) : joinFirst('Following', 'posts by people you follow');
      case 'tag':
        return pageOf(
          timeline(had, { load: paged('tag', { tag: route.tag }), flat: true, accepts: (p) => (p as PostV3).tags?.includes(route.tag) ?? false, label: `Posts tagged #${route.tag}`, empty: { title: `Nothing tagged #${route.tag} yet`, hint: `Write #${route.tag} in a post and it shows here.` } }),
          `#${route.tag}`,
          true,
        );
      case 'profile':
        return profilePage(route.handle, had);
      case 'post':
        return threadPage(route.id);
      case 'notifications':
        return me ? notificationsPage() : joinFirst('Notifications', 'your notifications');
      default:
        return null;
    }
  }

  function homePage(had: PageState | null): Page {
    // Whom I follow, as far as this page knows: authors seen on home, my own follows, and a profile
    // asked for once per new author of a live post.
    const follows = new Map<string, boolean>();
    const t = timeline(had, {
      load: async (before) => {
        const r = await paged('home', {})(before);
        if (r.ok) for (const p of arrayOf<BasePost>((r.data as { posts?: unknown }).posts)) follows.set(p.author.id, true);
        return r;
      },
      accepts: (p) => p.replyTo === null && (p.author.id === me!.id || follows.get(p.author.id) === true),
      label: 'Posts by people you follow',
      empty: { title: 'Nobody to show yet', hint: 'Follow people from their profile (tap a name) and their posts show here.' },
    });
    return pageOf(t, 'Following', true, undefined, (e) => {
      if (e.type === 'follow' && e.by === me!.id) follows.set(String(e.user), e.on === true);
      const post = e.type === 'post' ? (e.post as BasePost) : null;
      if (post && post.replyTo === null && post.author.id !== me!.id && !follows.has(post.author.id)) {
        follows.set(post.author.id, false);
        void api.request('profile', { user: post.author.id }).then((r) => {
          if (r.ok && (r.data as { user: Profile }).user.followed) {
            follows.set(post.author.id, true);
            t.event(e);
          }
        });
      }
    });
  }

  function profilePage(handle: string, had: PageState | null): Page {
    const head = h('section.profile', { 'aria-label': `@${handle}` });
    let user: Profile | null = null;
    let t: Timeline | null = null;
    const el = h('div', {}, head);
    const renderHead = (): void => {
      if (!user) return;
      const u = user;
      const mine = me?.id === u.id;
      head.replaceChildren(
        h(
          'div.profile-top',
          {},
          avatar(u, true),
          h('div.profile-names', {}, h('h2.name', {}, u.name), h('p.handle', {}, '@' + u.handle, u.followsYou ? h('span.follows-you', {}, 'Follows you') : null)),
          mine
            ? h('button.ghost.edit-profile', { type: 'button', 'aria-expanded': 'false', onclick: (ev: Event) => editProfile(u, ev.currentTarget as HTMLElement) }, 'Edit profile')
            : me
              ? h(
                  'button.follow',
                  {
                    type: 'button',
                    class: u.followed ? 'following' : null,
                    'aria-pressed': u.followed ? 'true' : 'false',
                    onclick: async (ev: Event) => {
                      (ev.currentTarget as HTMLButtonElement).disabled = true;
                      const r = await api.command(u.followed ? 'unfollow' : 'follow', { user: u.id });
                      if (r.ok) user = (r.data as { user: Profile }).user;
                      renderHead();
                    },
                  },
                  u.followed ? 'Following' : 'Follow',
                )
              : null,
        ),
        u.bio ? richText(u.bio, []) : h('p.bio-empty', {}, mine ? 'No bio yet: tell people who you are.' : 'No bio yet.'),
        h(
          'p.counts',
          {},
          h('span', {}, h('strong', {}, String(u.following)), ' following'),
          h('span', {}, h('strong', {}, String(u.followers)), u.followers === 1 ? ' follower' : ' followers'),
          h('span', {}, 'Joined ', new Date(u.joined).toLocaleDateString(undefined, { month: 'long', year: 'numeric' })),
        ),
      );
    };
    const editProfile = (u: Profile, button: HTMLElement): void => {
      const open = head.querySelector('form.profile-form');
      if (open) {
        open.remove();
        button.setAttribute('aria-expanded', 'false');
        return;
      }
      button.setAttribute('aria-expanded', 'true');
      const name = h('input', { name: 'name', value: u.name, maxlength: 50, autocomplete: 'name' }) as HTMLInputElement;
      const bio = h('textarea', { name: 'bio', rows: 3, maxlength: 200 }) as HTMLTextAreaElement;
      bio.value = u.bio;
      const error = h('p.inline-error', { role: 'alert', hidden: true });
      const form = h(
        'form.profile-form',
        { novalidate: true },
        h('label', {}, 'Display name', name),
        h('label', {}, 'Bio (up to 160 characters)', bio),
        h('div.composer-foot', {}, error, h('button.primary', { type: 'submit' }, 'Save')),
      ) as HTMLFormElement;
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const r = await api.request('update_profile', { name: name.value, bio: bio.value });
        if (!r.ok) {
          error.textContent = r.error.message;
          error.hidden = false;
          return;
        }
        user = { ...u, ...(r.data as { user: Profile }).user };
        renderHead();
      });
      head.append(form);
      name.focus();
    };
    const ready = (async () => {
      const r = await api.request('profile', { handle });
      if (!r.ok) {
        head.replaceChildren(h('div.empty', {}, h('div.empty-art', { 'aria-hidden': 'true' }, '🔍'), h('strong', {}, `Nobody is called @${handle} here`), h('span', {}, r.error.message)));
        return;
      }
      user = (r.data as { user: Profile }).user;
      renderHead();
      const u = user;
      t = timeline(had, { load: paged('user_posts', { user: u.id }), flat: true, accepts: (p) => p.author.id === u.id, label: `Posts by @${u.handle}`, empty: { title: `@${u.handle} has not posted yet` } });
      el.append(t.el);
      await t.ready;
    })();
    return {
      el,
      get title() {
        return user ? `${user.name} (@${user.handle})` : `@${handle}`;
      },
      compose: false,
      ready,
      event(e) {
        if (user && e.type === 'follow' && (e.user === user.id || e.by === user.id)) {
          if (e.user === user.id) user = { ...user, followers: Number(e.followers), followed: e.by === me?.id ? e.on === true : user.followed };
          if (e.by === user.id) user = { ...user, following: Number(e.following), followsYou: e.user === me?.id ? e.on === true : user.followsYou };
          renderHead();
        }
        if (user && e.type === 'profile' && (e.user as Profile).id === user.id) {
          user = { ...user, ...(e.user as Profile) };
          renderHead();
        }
        t?.event(e);
      },
      state: () => t?.state() ?? { size: 0, open: [] },
      dispose: () => t?.dispose(),
    };
  }

  function threadPage(id: string): Page {
    const el = h('div.thread-page');
    const list = h('ol.thread', { 'aria-label': 'The conversation' });
    const posts = new Map<string, PostV3>();
    const depth = new Map<string, number>();
    let order: string[] = [];
    let focus: PostV3 | null = null;
    const items = new Map<string, { li: HTMLElement; slot: HTMLElement; extras: HTMLElement }>();
    const cardApi = (extras: HTMLElement): CardApi => ({
      me: api.me,
      commands: api.commands,
      command: async (type, fields) => {
        const r = await api.command(type, fields);
        if (!r.ok && typeof fields.post === 'string') draw(fields.post);
        return r;
      },
      reply: (postId) => openReply(postId, true),
      toggleThread: () => {},
      remove: (postId) => {
        if (window.confirm('Delete this post? This cannot be undone.')) void api.command('delete', { post: postId });
      },
      threadOpen: () => true,
      extras: () => extras,
    });
    const item = (postId: string) => {
      let it = items.get(postId);
      if (!it) {
        const slot = h('div.card-slot');
        const extras = h('div.extras');
        it = { li: h('li.entry', { 'data-id': postId }, slot, extras), slot, extras };
        items.set(postId, it);
        draw(postId);
        if (api.hasComposer(`reply-${postId}`)) openReply(postId, false);
      }
      return it;
    };
    const draw = (postId: string): void => {
      const it = items.get(postId);
      const post = posts.get(postId);
      if (!it || !post) return;
      const d = depth.get(postId) ?? 0;
      it.li.style.setProperty('--depth', String(Math.max(0, Math.min(d, 6))));
      it.li.dataset.role = postId === id ? 'focus' : d < 0 ? 'ancestor' : 'reply';
      const c = card(post, cardApi(it.extras), api, { focus: postId === id });
      if (api.migrated(postId)) c.classList.add('migrated');
      it.slot.replaceChildren(c);
    };
    const sync = (): void => {
      for (const child of [...list.children] as HTMLElement[]) if (!posts.has(child.dataset.id ?? '')) child.remove();
      order.forEach((postId, i) => {
        const { li } = item(postId);
        if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
      });
    };
    const replySpec = (postId: string, handle = posts.get(postId)?.author.handle ?? 'them'): ComposerSpec => ({
      placeholder: `Reply to @${handle}`,
      submitLabel: 'Reply',
      rows: 2,
      cancellable: postId !== id,
      submit: (text) => api.request('post', { text, replyTo: postId }),
      done: (ok) => {
        if (postId !== id || !ok) api.dropComposer(`reply-${postId}`);
      },
    });
    const openReply = (postId: string, doFocus: boolean): void => {
      const it = items.get(postId);
      const post = posts.get(postId);
      if (!it || !post || !api.me) return;
      const c = api.composer(`reply-${postId}`, replySpec(postId, post.author.handle));
      if (c.el.parentElement !== it.extras) it.extras.append(c.el);
      if (doFocus) c.focus();
    };
    const ready = (async () => {
      const r = await api.request('context', { post: id });
      if (!r.ok) {
        el.replaceChildren(h('div.empty', {}, h('div.empty-art', { 'aria-hidden': 'true' }, '🕳'), h('strong', {}, 'This post is not here'), h('span', {}, r.error.message)));
        return;
      }
      const data = r.data as { ancestors: PostV3[]; post: PostV3; descendants: PostV3[]; more?: boolean };
      focus = data.post;
      data.ancestors.forEach((p, i) => {
        posts.set(p.id, p);
        depth.set(p.id, i - data.ancestors.length);
      });
      posts.set(focus.id, focus);
      depth.set(focus.id, 0);
      for (const p of data.descendants) {
        posts.set(p.id, p);
        depth.set(p.id, (depth.get(p.replyTo ?? '') ?? 0) + 1);
      }
      order = [...data.ancestors.map((p) => p.id), focus.id, ...data.descendants.map((p) => p.id)];
      sync();
      el.replaceChildren(list, data.more ? h('p.more', {}, 'The conversation goes on; open a reply to read further.') : h('p.more.end', {}, 'End of the conversation.'));
      if (api.me) openReply(id, false);
    })();
    return {
      el,
      get title() {
        return focus ? `Post by ${focus.author.name}` : 'Post';
      },
      compose: false,
      ready,
      event(e) {
        if (e.type === 'post') {
          const p = e.post as PostV3;
          if (posts.has(p.id) || p.replyTo === null || !posts.has(p.replyTo) || (depth.get(p.replyTo) ?? 0) < 0) return;
          // after the parent's last descendant
          const parentAt = order.indexOf(p.replyTo);
          const d = (depth.get(p.replyTo) ?? 0) + 1;
          let at = parentAt + 1;
          while (at < order.length && (depth.get(order[at]!) ?? 0) >= d) at++;
          posts.set(p.id, p);
          depth.set(p.id, d);
          order.splice(at, 0, p.id);
          return sync();
        }
        if (e.type === 'delete' && typeof e.post === 'string' && posts.has(e.post)) {
          posts.delete(e.post);
          order = order.filter((x) => x !== e.post);
          items.get(e.post)?.li.remove();
          items.delete(e.post);
          return;
        }
        if (e.type === 'replied' && typeof e.post === 'string' && posts.has(e.post)) {
          posts.set(e.post, { ...posts.get(e.post)!, replies: Number(e.replies) });
          return draw(e.post);
        }
        if (e.type === 'profile') return void renamed(e, posts as Map<string, BasePost>).forEach(draw);
        const target = typeof e.post === 'string' ? e.post : (e.post as { id?: string } | undefined)?.id;
        const post = target === undefined ? undefined : posts.get(target);
        if (!post) return;
        const next = reduce(post, e, api.me?.id ?? null);
        if (next) {
          posts.set(post.id, next);
          if (post.id === id) focus = next;
          draw(post.id);
        }
      },
      state: () => ({ size: 0, open: [] }),
      dispose() {
        // the reply box this page opened by itself goes, unless the person wrote in it
        const key = `reply-${id}`;
        if (api.hasComposer(key) && api.composer(key, replySpec(id)).el.querySelector('textarea')?.value.trim() === '') api.dropComposer(key);
      },
    };
  }

  function notificationsPage(): Page {
    const list = h('ol.notifications', { 'aria-label': 'Notifications' });
    const more = h('div.more');
    const markAll = h('button.ghost.mark-read', { type: 'button', onclick: () => void markRead() }, 'Mark all as read');
    const el = h('div', {}, h('div.notes-bar', {}, markAll), list, more);
    let next: unknown = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const markRead = async (): Promise<void> => {
      if (unread === 0) return;
      const r = await api.request('mark_read');
      if (r.ok) setUnread(0);
    };
    const line = (n: NotificationV3): HTMLElement => {
      const who = h('a.who', { href: profilePath(n.by.handle) }, h('strong.name', {}, n.by.name || n.by.handle));
      const what =
        n.type === 'follow' ? ' followed you' : n.type === 'mention' ? ' mentioned you' : n.type === 'reply' ? ' replied to you' : ` reacted ${n.emoji ?? ''} to your post`;
      const icon = { follow: '👤', mention: '@', reply: '↩', reaction: n.emoji ?? '★' }[n.type];
      return h(
        'li.note',
        { 'data-id': n.id, class: n.read ? null : 'unread' },
        h('span.note-icon', { 'aria-hidden': 'true' }, icon),
        h(
          'div.note-body',
          {},
          h('p.note-line', {}, avatar(n.by), who, what, h('span.dot', { 'aria-hidden': 'true' }, '·'), h('time', { 'data-at': n.at, datetime: new Date(n.at).toISOString() }, timeAgo(n.at)), n.read ? null : h('span.visually-hidden', {}, ' (unread)')),
          n.post
            ? h('a.note-post', { href: postPath(n.post.author.handle, n.post.id) }, n.post.text)
            : n.type === 'follow'
              ? null
              : h('p.note-gone', {}, 'That post was deleted.'),
        ),
      );
    };
    const load = async (): Promise<void> => {
      const r = await api.request('notifications', { limit: 30, ...(next === null ? {} : { before: next }) });
      if (!r.ok) return api.toast(r.error.message);
      const data = r.data as { notifications?: unknown; next?: unknown; unread?: unknown };
      for (const n of arrayOf<NotificationV3>(data.notifications)) list.append(line(n));
      next = data.next ?? null;
      setUnread(Number(data.unread) || 0);
      more.replaceChildren(
        next !== null
          ? h('button.ghost.wide', { type: 'button', onclick: () => void load() }, 'Older notifications')
          : list.children.length === 0
            ? h('div.empty', {}, h('div.empty-art', { 'aria-hidden': 'true' }, '🔔'), h('strong', {}, 'Nothing yet'), h('span', {}, 'When someone mentions you, replies, reacts or follows you, it shows here.'))
            : h('span.end', {}, 'That is all of them.'),
      );
    };
    const ready = load().then(() => {
      // read once seen: the highlight stays on screen, the badge goes
      timer = setTimeout(() => void markRead(), 1500);
    });
    return {
      el,
      title: 'Notifications',
      compose: false,
      ready,
      event(e) {
        if (e.type === 'notification') {
          list.prepend(line(e.notification as NotificationV3));
          more.querySelector('.empty')?.remove();
          if (timer) clearTimeout(timer);
          timer = setTimeout(() => void markRead(), 3000);
        }
        if (e.type === 'read') for (const li of list.querySelectorAll('.unread')) li.classList.remove('unread');
      },
      state: () => ({ size: 0, open: [] }),
      dispose: () => {
        if (timer) clearTimeout(timer);
      },
    };
  }

  return {
    nav,
    page,
    event(e) {
      if (e.type === 'notification') {
        setUnread(Number(e.unread) || unread + 1);
        const n = e.notification as NotificationV3;
        if (api.route.name !== 'notifications') api.announce(`${n.by.name || n.by.handle} ${n.type === 'follow' ? 'followed you' : n.type === 'mention' ? 'mentioned you' : n.type === 'reply' ? 'replied to you' : 'reacted to your post'}`);
      }
      if (e.type === 'read') setUnread(0);
    },
    dispose() {},
  };
}

export const css =
  cssV2 +
  `
.post-head .who { display: inline-flex; align-items: baseline; gap: 6px; min-width: 0; color: var(--ink); text-decoration: none; overflow: hidden; }
.post-head .who:hover .name { text-decoration: underline; }
.post-head .name { font-weight: 700; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.post-head .who .handle { font-weight: 450; color: var(--ink-3); font-size: 14px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.avatar-link { display: contents; }
.permalink { color: var(--ink-3); text-decoration: none; font-size: 14px; flex: none; }
.permalink:hover { text-decoration: underline; }
.edited { flex: none; border: 0; background: none; padding: 0 2px; color: var(--ink-3); font-size: 13px; text-decoration: underline dotted; }
.post-text a { color: var(--accent-ink); font-weight: 550; text-decoration: none; }
.post-text a:hover { text-decoration: underline; }
.post-text a.link-out { text-decoration: underline; overflow-wrap: anywhere; }
.act.thread { text-decoration: none; }
.post.focus .post-text { font-size: 18px; }
.history { border: 1px solid var(--line); border-radius: 12px; padding: 8px 12px; background: var(--surface-2); font-size: 14px; }
.history-title { margin: 0 0 4px; font-size: 12.5px; font-weight: 650; color: var(--ink-2); }
.history ol { margin: 0; padding-left: 18px; display: grid; gap: 6px; }
.history time { font-size: 12px; color: var(--ink-2); }
.history p { margin: 2px 0 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.history li.current p { font-weight: 600; }
.profile { background: var(--surface); border: 1px solid var(--line); border-radius: var(--radius); padding: 18px; margin-bottom: 14px; }
.profile-top { display: flex; align-items: center; gap: 14px; }
.avatar.big { width: 64px; height: 64px; font-size: 26px; }
.profile-names { flex: 1; min-width: 0; }
.profile-names h2 { margin: 0; font-size: 20px; overflow-wrap: anywhere; }
.profile-names .handle { margin: 2px 0 0; color: var(--ink-2); display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.follows-you { font-size: 12px; padding: 1px 8px; border-radius: 6px; background: var(--surface-2); border: 1px solid var(--line); color: var(--ink-2); }
.follow { height: 36px; padding: 0 18px; border-radius: 999px; border: 0; background: var(--accent); color: var(--on-accent); font-weight: 650; }
.follow.following { background: var(--surface); color: var(--ink); border: 1px solid var(--line); }
.profile .post-text, .bio-empty { margin: 12px 0 0; }
.bio-empty { color: var(--ink-2); }
.counts { display: flex; flex-wrap: wrap; gap: 16px; margin: 12px 0 0; color: var(--ink-2); font-size: 14px; }
.counts strong { color: var(--ink); }
.profile-form { display: grid; gap: 10px; margin-top: 14px; padding-top: 14px; border-top: 1px solid var(--line); }
.profile-form label { display: grid; gap: 4px; font-size: 13.5px; font-weight: 600; color: var(--ink-2); }
.profile-form input, .profile-form textarea { font: inherit; font-weight: 400; color: var(--ink); padding: 8px 10px; border: 1px solid var(--line); border-radius: 10px; background: var(--surface-2); }
.thread { list-style: none; margin: 0; padding: 0; display: grid; gap: 8px; }
.thread > .entry { background: var(--surface); border: 1px solid var(--line); border-radius: var(--radius); margin-left: calc(var(--depth, 0) * 22px); }
.thread > .entry[data-role="ancestor"] { opacity: .92; }
.thread > .entry[data-role="focus"] { border-color: color-mix(in srgb, var(--accent) 50%, var(--line)); box-shadow: 0 0 0 3px var(--accent-soft); }
.thread > .entry[data-role="reply"] { border-left: 3px solid var(--line); }
.notes-bar { display: flex; justify-content: flex-end; margin-bottom: 10px; }
.notifications { list-style: none; margin: 0; padding: 0; display: grid; gap: 8px; }
.note { display: flex; gap: 12px; padding: 12px 14px; background: var(--surface); border: 1px solid var(--line); border-radius: var(--radius); }
.note.unread { border-color: color-mix(in srgb, var(--accent) 55%, var(--line)); background: color-mix(in srgb, var(--accent-soft) 45%, var(--surface)); }
.note-icon { flex: none; width: 28px; text-align: center; font-size: 18px; color: var(--accent-ink); font-weight: 800; }
.note-body { min-width: 0; flex: 1; }
.note-line { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 0; }
.note-line .avatar { width: 26px; height: 26px; font-size: 12px; }
.note-line .who { color: var(--ink); text-decoration: none; }
.note-line time { color: var(--ink-3); font-size: 13.5px; }
.note-post { display: block; margin-top: 6px; color: var(--ink-2); text-decoration: none; white-space: pre-wrap; overflow-wrap: anywhere; }
.note-post:hover { color: var(--ink); }
.note-gone { margin: 6px 0 0; color: var(--ink-3); font-style: italic; }
@media (max-width: 480px) { .thread > .entry { margin-left: calc(var(--depth, 0) * 10px); } .profile { padding: 14px; } }
`;

const view: FeedView<PostV3> = {
  version: 3,
  label: 'follows',
  css,
  renderPost: (post, api) => card(post, api, null),
  reduce,
  regions,
};

export default view;
