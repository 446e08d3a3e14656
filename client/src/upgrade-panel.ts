/**
 * The upgrade panel: every open page shows an upgrade as it happens, phase by phase, with timings,
 * the entity counts, what was dropped, the pause, one sample entity before and after migration, and
 * on refusal why nothing changed. Renders an UpgradeModel (upgrade-model.ts); holds no state itself.
 */
import { headline, STEPS, type UpgradeModel } from './upgrade-model.ts';
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
  /** First render of this attempt: animate in (re-renders for later phases must not). */
  readonly fresh: boolean;
  toggle(): void;
  close(): void;
}

export function renderUpgrade(m: UpgradeModel, ui: PanelControls): HTMLElement {
  const seen = new Map(m.phases.map((p) => [p.phase, p]));
  const steps = m.dryRun ? [...STEPS.slice(0, -1), 'dry-run' as const] : STEPS;
  let failedMarked = false;
  const items = steps.map((phase) => {
    const entry = seen.get(phase);
    let state: StepState;
    if (entry) state = 'done';
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
  if (m.outcome !== 'running') facts.push(fact('Phases, summed', fmtMs(m.totalMs)));

  const sample = m.sample
    ? h(
        'div.sample',
        {},
        h('p.sample-title', {}, `Sample ${m.sample.kind} ${m.sample.id}, before and after migration`),
        sampleBox(`Before · v${m.from.version}`, m.sample.before),
        h('span.sample-arrow', { 'aria-hidden': 'true' }, '→'),
        sampleBox(`After · v${m.to.version}`, m.sample.after),
      )
    : null;

  const refusal =
    m.error !== null
      ? h('div.refusal', { role: 'alert' }, h('code', {}, m.error.code), h('p', {}, m.error.message), h('p.refusal-note', {}, `Nothing changed: the feed keeps running v${m.from.version}.`))
      : null;

  return h(
    'section.upgrade-panel',
    { 'data-outcome': m.outcome, 'data-upgrade': m.id, 'aria-live': 'polite', 'aria-label': 'Upgrade', class: [ui.collapsed ? 'collapsed' : '', ui.fresh ? 'fresh' : ''].join(' ').trim() || null },
    h(
      'header.upgrade-head',
      {},
      h('span.upgrade-icon', { 'aria-hidden': 'true' }, m.outcome === 'refused' ? '!' : m.direction === 'down' ? '↓' : '↑'),
      h(
        'button.upgrade-title',
        { type: 'button', 'aria-expanded': ui.collapsed ? 'false' : 'true', title: ui.collapsed ? 'Show the details' : 'Hide the details', onclick: ui.toggle },
        h('strong', {}, headline(m)),
        h('small', {}, `v${m.from.version} → v${m.to.version} · ${short(m.from.release)} → ${short(m.to.release)}${m.outcome === 'running' ? '' : ` · ${fmtMs(m.totalMs)}`}`),
      ),
      h('button.icon-btn', { type: 'button', 'aria-label': 'Close the upgrade panel', title: 'Close', onclick: ui.close }, '×'),
    ),
    h(
      'div.upgrade-body',
      { hidden: ui.collapsed },
      h('ol.steps', {}, ...items),
      refusal,
      censusTable(m.census.before, m.census.after),
      facts.length ? h('dl.facts', {}, ...facts) : null,
      sample,
    ),
  );
}

function fact(label: string, value: string | Node): HTMLElement {
  return h('div.fact', {}, h('dt', {}, label), h('dd', {}, value));
}

/** Entities per kind before the migration and after validation: what the upgrade did to the data. */
function censusTable(before: Record<string, number> | null, after: Record<string, number> | null): HTMLElement | null {
  if (!before && !after) return null;
  const b = before ?? {};
  const a = after ?? {};
  const kinds = [...new Set([...Object.keys(b), ...Object.keys(a)])];
  const cell = (x: Record<string, number>, k: string, known: boolean) => (k in x ? String(x[k]) : known ? '—' : '…');
  return h(
    'table.census',
    {},
    h('thead', {}, h('tr', {}, h('th', {}, 'Entities'), h('th', {}, 'before'), h('th', {}, 'after'))),
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
