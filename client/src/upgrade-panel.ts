/**
 * The upgrade panel: every open page shows an upgrade as it happens. It leads with one plain sentence
 * of what changes for the people reading ("Likes are becoming emoji reactions") and, while an online
 * migration runs, a progress bar; the operator's story (phases with timings, entity counts, what was
 * dropped, the pause, a sample before and after, release hashes, the refusal's code) is behind a
 * disclosure. Renders an UpgradeModel (upgrade-model.ts); holds no state itself.
 */
import { headline, plainSentence, STEPS, type UpgradeModel } from './upgrade-model.ts';
import { h } from './view-kit.ts';

const STEP_LABEL: Record<string, string> = {
  begin: 'Accepted',
  load: 'Load release',
  migrate: 'Migrate live state',
  validate: 'Validate',
  committed: 'Swap code and state',
  'dry-run': 'Stop before the point of no return',
};

type StepState = 'done' | 'active' | 'pending' | 'failed' | 'skipped';

export interface PanelControls {
  readonly collapsed: boolean;
  /** Whether the operator details are open (kept by the shell across re-renders). */
  readonly details: boolean;
  setDetails(open: boolean): void;
  /** First render of this attempt: animate in (re-renders for later phases must not). */
  readonly fresh: boolean;
  toggle(): void;
  close(): void;
}

export function renderUpgrade(m: UpgradeModel, ui: PanelControls): HTMLElement {
  const seen = new Map(m.phases.map((p) => [p.phase, p]));
  const steps = m.dryRun ? [...STEPS.slice(0, -1), 'dry-run' as const] : STEPS;
  let failedMarked = false;
  const failedAt = m.outcome === 'refused' && m.failedAt !== null ? steps.indexOf(m.failedAt as (typeof steps)[number]) : -1;
  const items = steps.map((phase, i) => {
    const entry = seen.get(phase);
    let state: StepState;
    // where the refusal says it stopped: before it done, after it skipped (a step seen running is not done)
    if (failedAt >= 0) state = i < failedAt ? 'done' : i === failedAt ? 'failed' : 'skipped';
    else if (entry) state = 'done';
    else if (m.outcome === 'refused' && !failedMarked) {
      state = 'failed';
      failedMarked = true;
    } else if (m.outcome === 'running' && !failedMarked) {
      state = 'active';
      failedMarked = true;
    } else state = m.outcome === 'refused' ? 'skipped' : 'pending';
    return h(
      'li.step',
      { 'data-phase': phase, 'data-state': state },
      h('span.bullet', { 'aria-hidden': 'true' }, state === 'done' ? '✓' : state === 'failed' ? '✕' : ''),
      h('span.step-name', {}, STEP_LABEL[phase] ?? phase, phase === 'migrate' && m.steps.length ? h('small.step-note', {}, m.steps.map((x) => (x.describe ? `${x.step}: ${x.describe}` : x.step)).join(' · ')) : null),
      h('span.ms', {}, entry?.ms != null ? fmtMs(entry.ms) : state === 'active' ? '…' : ''),
    );
  });

  const facts: HTMLElement[] = [];
  if (m.dropped !== null || m.phases.some((p) => p.phase === 'migrate')) {
    const dropped = Object.entries(m.dropped ?? {}).filter(([, n]) => n > 0);
    facts.push(fact('Dropped', dropped.length ? dropped.map(([k, n]) => `${n} ${k}`).join(', ') : 'nothing'));
  }
  if (m.pauseMs !== null) facts.push(fact('Commands paused', fmtMs(m.pauseMs) + (m.queued ? ` · ${m.queued} waited` : '')));
  if (m.outcome !== 'running') facts.push(fact('Took', fmtMs(m.totalMs)));

  const sample = m.sample
    ? h(
        'div.sample',
        {},
        h('p.sample-title', {}, `Sample ${m.sample.kind} ${m.sample.id}, before and after migration`),
        sampleBox(`Before · v${m.from.version}`, m.sample.before),
        h('span.sample-arrow', { 'aria-hidden': 'true' }, '→'),
        sampleBox(`${m.outcome === 'refused' ? 'Would have been' : 'After'} · v${m.to.version}`, m.sample.after),
      )
    : null;

  const refusal =
    m.error !== null ? h('div.refusal', {}, h('code', {}, m.error.code), h('p', {}, m.error.message)) : null;
  const lost = Object.entries(m.dropped ?? {}).filter(([, n]) => n > 0);
  const plain = h(
    'div.upgrade-plain',
    {},
    h('p.plain-sentence', {}, plainSentence(m)),
    m.outcome === 'refused' ? h('p.refusal-note', {}, `Nothing changed: the feed keeps running v${m.from.version}.`) : null,
    m.outcome === 'committed' && lost.length ? h('p.lost', {}, `Not kept: ${lost.map(([k, n]) => `${n} ${k}`).join(', ')}.`) : null,
    m.outcome === 'running' ? progressBar(m) : null,
  );
  const details = h(
    'details.upgrade-details',
    { open: ui.details, ontoggle: (ev: Event) => ui.setDetails((ev.currentTarget as HTMLDetailsElement).open) },
    h('summary', { 'data-focus': 'details' }, 'Details for operators'),
    h('p.hashes', {}, m.unloaded ? `v${m.from.version} → ? · release ${short(m.from.release)} → not loaded` : `v${m.from.version} → v${m.to.version} · release ${short(m.from.release)} → ${short(m.to.release)}`),
    h('ol.steps', {}, ...items),
    refusal,
    censusTable(m.census.before, m.census.after, afterLabel(m)),
    facts.length ? h('dl.facts', {}, ...facts) : null,
    sample,
  );

  return h(
    'section.upgrade-panel',
    { 'data-outcome': m.outcome, 'data-upgrade': m.id, role: 'region', 'aria-label': 'Upgrade', class: [ui.collapsed ? 'collapsed' : '', ui.fresh ? 'fresh' : ''].join(' ').trim() || null },
    h(
      'header.upgrade-head',
      {},
      h('span.upgrade-icon', { 'aria-hidden': 'true' }, m.outcome === 'refused' ? '!' : m.direction === 'down' ? '↓' : '↑'),
      h(
        'button.upgrade-title',
        { type: 'button', 'data-focus': 'title', 'aria-expanded': ui.collapsed ? 'false' : 'true', title: ui.collapsed ? 'Show the details' : 'Hide the details', onclick: ui.toggle },
        h('strong', {}, headline(m)),
        h('small', {}, `v${m.from.version} → ${m.unloaded ? '?' : `v${m.to.version}`}${m.outcome === 'running' ? '' : ` · ${fmtMs(m.totalMs)}`}`),
      ),
      h('button.icon-btn', { type: 'button', 'data-focus': 'close', 'aria-label': 'Close the upgrade panel', title: 'Close', onclick: ui.close }, '×'),
    ),
    h('div.upgrade-body', { hidden: ui.collapsed }, plain, details),
  );
}

/** How far an online migration has come: a bar, and in words the rate, the time left, the round. */
function progressBar(m: UpgradeModel): HTMLElement | null {
  if (m.cuttingOver) return h('p.progress-note', {}, 'Switching over: posting waits for a moment.');
  const p = m.progress;
  if (p === null) return null;
  const pct = p.total > 0 ? Math.min(100, Math.floor((p.done / p.total) * 100)) : 100;
  const words = [`${fmtCount(p.done)} of ${fmtCount(p.total)}`];
  if (p.rate !== null && p.rate > 0) words.push(`${fmtCount(Math.round(p.rate))}/s`);
  if (p.etaMs !== null && pct < 100) words.push(`about ${fmtEta(p.etaMs)} left`);
  if (m.catchUp) words.push(`catching up, round ${m.catchUp.round} (${fmtCount(m.catchUp.entities)} changed meanwhile)`);
  else if (p.round > 0) words.push(`catching up, round ${p.round}`);
  if (m.held) words.push('ready: waiting for the operator to switch');
  return h(
    'div.progress',
    {},
    h('div.bar', { role: 'progressbar', 'aria-label': 'Upgrade progress', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct }, h('span.fill', { style: `width:${pct}%` })),
    h('p.progress-note', {}, `${pct}% · ${words.join(' · ')}`),
  );
}

export function fmtCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function fmtEta(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function fact(label: string, value: string | Node): HTMLElement {
  return h('div.fact', {}, h('dt', {}, label), h('dd', {}, value));
}

/** The census's second column: a refused or aborted attempt's new state was thrown away, a dry run's never kept. */
function afterLabel(m: UpgradeModel): string {
  return m.outcome === 'refused' ? 'after (not kept)' : m.outcome === 'dry-run' ? 'after (dry run)' : 'after';
}

/** Entities per kind before the migration and after validation: what the upgrade did to the data. */
function censusTable(before: Record<string, number> | null, after: Record<string, number> | null, afterTitle: string): HTMLElement | null {
  if (!before && !after) return null;
  const b = before ?? {};
  const a = after ?? {};
  const kinds = [...new Set([...Object.keys(b), ...Object.keys(a)])];
  const cell = (x: Record<string, number>, k: string, known: boolean) => (k in x ? String(x[k]) : known ? '—' : '…');
  return h(
    'table.census',
    {},
    h('thead', {}, h('tr', {}, h('th', {}, 'Entities'), h('th', {}, 'before'), h('th', {}, afterTitle))),
    h(
      'tbody',
      {},
      ...kinds.map((k) =>
        h('tr', { class: (b[k] ?? null) !== (a[k] ?? null) && after ? 'changed' : null }, h('th', {}, k), h('td', {}, cell(b, k, before !== null)), h('td', {}, cell(a, k, after !== null))),
      ),
    ),
  );
}

function sampleBox(title: string, value: unknown): HTMLElement {
  return h('figure.sample-box', {}, h('figcaption', {}, title), h('pre', {}, clip(json(value))));
}

function json(x: unknown): string {
  if (x === null || x === undefined) return '(none)';
  try {
    return JSON.stringify(x, null, 2);
  } catch {
    return String(x);
  }
}

function clip(s: string, max = 1500): string {
  return s.length > max ? s.slice(0, max) + '\n…' : s;
}

export function fmtMs(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function short(release: string): string {
  return release ? release.slice(0, 7) : '—';
}
