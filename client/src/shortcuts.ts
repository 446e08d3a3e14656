/**
 * Keyboard shortcuts, as Mastodon and Twitter have them: n writes a post, j and k move between posts,
 * r replies to the post in focus, o or Enter opens it, ? lists them. Keys typed into a field are the
 * field's. Works on every version's page: it looks for posts (`article.post`) and their controls.
 */
import { h } from './view-kit.ts';

export interface ShortcutTargets {
  compose(): void;
  /** Where the current page's posts are. */
  root(): HTMLElement;
}

export const SHORTCUTS: readonly [string, string][] = [
  ['n', 'Write a post'],
  ['j', 'Next post'],
  ['k', 'Previous post'],
  ['r', 'Reply to the post in focus'],
  ['o or Enter', 'Open the post in focus'],
  ['?', 'Show these shortcuts'],
];

export function installShortcuts(t: ShortcutTargets): void {
  let help: HTMLDialogElement | null = null;
  document.addEventListener('keydown', (ev) => {
    if (ev.defaultPrevented || ev.metaKey || ev.ctrlKey || ev.altKey) return;
    const target = ev.target as HTMLElement | null;
    if (target && (target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]') || target.closest('dialog[open]'))) return;
    const posts = [...t.root().querySelectorAll<HTMLElement>('article.post')];
    const current = target?.closest<HTMLElement>('article.post') ?? null;
    const at = current ? posts.indexOf(current) : -1;
    const move = (i: number): void => {
      const post = posts[Math.max(0, Math.min(posts.length - 1, i))];
      if (!post) return;
      post.tabIndex = -1;
      post.focus();
      post.scrollIntoView({ block: 'nearest' });
    };
    switch (ev.key) {
      case 'n':
        ev.preventDefault();
        return t.compose();
      case 'j':
        ev.preventDefault();
        return move(at + 1);
      case 'k':
        ev.preventDefault();
        return move(at < 0 ? 0 : at - 1);
      case 'r':
        if (current) {
          ev.preventDefault();
          current.querySelector<HTMLElement>('.act.reply')?.click();
        }
        return;
      case 'o':
      case 'Enter':
        if (current && target === current) {
          ev.preventDefault();
          (current.querySelector<HTMLElement>('a.permalink') ?? current.querySelector<HTMLElement>('.act.thread'))?.click();
        }
        return;
      case '?':
        ev.preventDefault();
        help ??= helpDialog();
        if (!help.open) help.showModal();
        return;
    }
  });
}

function helpDialog(): HTMLDialogElement {
  const dialog = h(
    'dialog.shortcuts',
    { 'aria-labelledby': 'shortcuts-title' },
    h('h2', { id: 'shortcuts-title' }, 'Keyboard shortcuts'),
    h('dl', {}, ...SHORTCUTS.flatMap(([key, what]) => [h('dt', {}, h('kbd', {}, key)), h('dd', {}, what)])),
    h('form', { method: 'dialog' }, h('button.ghost', { type: 'submit' }, 'Close')),
  ) as HTMLDialogElement;
  document.body.append(dialog);
  return dialog;
}
