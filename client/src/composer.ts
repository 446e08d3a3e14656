/**
 * A composer: textarea, live counter against the 500-character limit, inline error, submit button.
 * Used for new posts and for replies. The shell owns composers, so their drafts survive upgrades.
 */
import { draftState } from './draft.ts';
import type { CommandResult } from './view-contract.ts';
import { h } from './view-kit.ts';

export interface ComposerOptions {
  readonly placeholder: string;
  readonly submitLabel: string;
  readonly name: string;
  readonly rows?: number;
  submit(text: string): Promise<CommandResult>;
  cancel?(): void;
}

export interface Composer {
  readonly el: HTMLFormElement;
  readonly textarea: HTMLTextAreaElement;
  focus(): void;
}

export function composer(opts: ComposerOptions): Composer {
  const textarea = h('textarea', {
    name: opts.name,
    rows: opts.rows ?? 3,
    placeholder: opts.placeholder,
    'aria-label': opts.placeholder,
  }) as HTMLTextAreaElement;
  const counter = h('span.counter', { 'aria-live': 'polite' });
  const error = h('p.inline-error', { role: 'alert', hidden: true });
  const button = h('button.primary', { type: 'submit' }, opts.submitLabel) as HTMLButtonElement;
  const cancel = opts.cancel ? h('button.ghost', { type: 'button', onclick: () => opts.cancel?.() }, 'Cancel') : null;
  const form = h('form.composer', { novalidate: true }, textarea, h('div.composer-foot', {}, error, counter, cancel, button)) as HTMLFormElement;

  let busy = false;
  // The button stays enabled on an empty or over-long draft so the inline message can say why.
  const update = (): void => {
    const st = draftState(textarea.value);
    counter.textContent = String(st.remaining);
    counter.dataset.tone = st.tone;
    counter.title = `${st.length} of 500 characters`;
    button.disabled = busy;
    form.dataset.tone = st.tone;
    form.classList.toggle('over', st.tone === 'over');
    if (!error.hidden && st.problem === null) error.hidden = true;
  };
  const showError = (message: string): void => {
    error.textContent = message;
    error.hidden = false;
  };

  const send = async (): Promise<void> => {
    if (busy) return;
    const st = draftState(textarea.value);
    if (st.problem !== null) return showError(st.problem);
    busy = true;
    button.disabled = true;
    const result = await opts.submit(textarea.value);
    busy = false;
    if (result.ok) {
      textarea.value = '';
      error.hidden = true;
    } else {
      showError(result.error.message);
    }
    update();
  };

  textarea.addEventListener('input', update);
  textarea.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.metaKey || ev.ctrlKey)) {
      ev.preventDefault();
      void send();
    }
    if (ev.key === 'Escape' && opts.cancel) opts.cancel();
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void send();
  });
  update();
  return { el: form, textarea, focus: () => textarea.focus() };
}
