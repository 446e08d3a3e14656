/**
 * A composer: textarea, live counter against the 500-character limit, inline error, submit button.
 * Used for new posts, replies and edits. The shell owns composers, so their drafts survive upgrades;
 * a view may hand a composer a new spec (what Submit does) at any time.
 *
 * Errors: a problem with the draft itself (empty, too long) follows the draft as it changes and goes
 * when the draft is fine; a refusal from the server, or being offline, stays until the person edits
 * the draft or tries again, so it is never hidden before it is read.
 */
import { draftState } from './draft.ts';
import type { ComposerSpec } from './view-contract.ts';
import { h } from './view-kit.ts';

/** What a view asks for (view-contract.ts), and the textarea's name: the key the shell keeps it by. */
export interface ComposerOptions extends ComposerSpec {
  readonly name: string;
}

export interface Composer {
  readonly el: HTMLFormElement;
  readonly textarea: HTMLTextAreaElement;
  focus(): void;
  /** Replace what Submit and Cancel do (and the labels); the draft stays. */
  respec(opts: ComposerOptions): void;
}

export function composer(initial: ComposerOptions): Composer {
  let opts = initial;
  // dir=auto: a draft in Arabic or Hebrew runs right to left, as it will read once posted
  const textarea = h('textarea', { name: opts.name, rows: opts.rows ?? 3, placeholder: opts.placeholder, 'aria-label': opts.placeholder, dir: 'auto' }) as HTMLTextAreaElement;
  textarea.value = opts.initial ?? '';
  const counter = h('span.counter', { 'aria-hidden': 'true' });
  const error = h('p.inline-error', { role: 'alert', hidden: true });
  const button = h('button.primary', { type: 'submit' }, opts.submitLabel) as HTMLButtonElement;
  const cancel = h('button.ghost', { type: 'button', hidden: !opts.cancellable, onclick: () => opts.done?.(false) }, 'Cancel') as HTMLButtonElement;
  const form = h('form.composer', { novalidate: true }, textarea, h('div.composer-foot', {}, error, counter, cancel, button)) as HTMLFormElement;

  let busy = false;
  let shown: 'draft' | 'server' | null = null;
  // The button stays enabled on an empty or over-long draft so the inline message can say why.
  const update = (): void => {
    const st = draftState(textarea.value);
    counter.textContent = String(st.remaining);
    counter.dataset.tone = st.tone;
    counter.title = `${st.length} of 500 characters`;
    textarea.setAttribute('aria-description', `${st.remaining} characters left`);
    button.disabled = busy;
    form.dataset.tone = st.tone;
    form.classList.toggle('over', st.tone === 'over');
    if (shown === 'draft') {
      if (st.problem === null) hide();
      else error.textContent = st.problem;
    }
  };
  const show = (message: string, kind: 'draft' | 'server'): void => {
    error.textContent = message;
    error.hidden = false;
    shown = kind;
  };
  const hide = (): void => {
    error.hidden = true;
    shown = null;
  };

  const send = async (): Promise<void> => {
    if (busy) return;
    const st = draftState(textarea.value);
    if (st.problem !== null) return show(st.problem, 'draft');
    busy = true;
    button.disabled = true;
    const result = await opts.submit(textarea.value);
    busy = false;
    if (result.ok) {
      textarea.value = '';
      hide();
      update();
      opts.done?.(true);
      return;
    }
    show(result.error.message, 'server');
    update();
  };

  textarea.addEventListener('input', () => {
    if (shown === 'server') hide();
    update();
  });
  textarea.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.metaKey || ev.ctrlKey)) {
      ev.preventDefault();
      void send();
    }
    if (ev.key === 'Escape' && opts.cancellable) opts.done?.(false);
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void send();
  });
  update();
  return {
    el: form,
    textarea,
    focus: () => textarea.focus(),
    respec(next) {
      opts = next;
      textarea.placeholder = next.placeholder;
      textarea.setAttribute('aria-label', next.placeholder);
      button.textContent = next.submitLabel;
      cancel.hidden = !next.cancellable;
    },
  };
}
