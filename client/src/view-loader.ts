/**
 * Loading a release's view module so that it cannot freeze the page. In order:
 *
 *   1. this browser's record: a view that froze a page here before is not loaded again;
 *   2. fetch the module, within `fetchMs` (it is then in the HTTP cache: immutable, by hash);
 *   3. the probe: a Web Worker (/view-probe.js) imports it and runs it on the page's sample posts
 *      and recent events over a DOM stand-in, one step at a time; a step past its limit
 *      (`importMs` for the top level, `probeMs` for the rest) terminates the worker and the page
 *      shows the plain view;
 *   4. import it in the page, within `fetchMs`, while a trial mark in localStorage (kept fresh by a
 *      heartbeat) says the page is running this view's code for the first time; the shell ends
 *      the trial once the page is built. A page that freezes there leaves a stale mark, and the next
 *      page of this browser finds it in step 1.
 *
 * The worker, the heartbeat and the timers are the page's; nothing here calls into the view on the
 * main thread except `import()` itself. view-guard.ts covers the calls after that.
 */
import { feedViewOf, type ProbeInput, type ProbeMessage, type ProbeStep } from './probe.ts';
import { describe } from './view-guard.ts';
import type { FeedView } from './view-contract.ts';

export interface ViewLimits {
  /** Fetching the module, and importing it in the page after the probe. */
  readonly fetchMs: number;
  /** The probe's worker saying it is ready (beyond: the probe is unavailable, not failed). */
  readonly startMs: number;
  /** The module's top level, in the worker. */
  readonly importMs: number;
  /** Each later step of the probe: rendering the samples, building a page, settling. */
  readonly probeMs: number;
  /** A single call into the view on the page (view-guard.ts). */
  readonly slowMs: number;
  /** A page's `ready`: past it, the shell shows the page as it is. */
  readonly readyMs: number;
  /** A trial mark this old, not refreshed, is a page that froze. */
  readonly trialStaleMs: number;
}

export const LIMITS: ViewLimits = {
  fetchMs: 8000,
  startMs: 5000,
  importMs: 1500,
  probeMs: 1500,
  slowMs: 400,
  readyMs: 10_000,
  trialStaleMs: 10_000,
};

/** The limits, with any the page was given in `window.moltViewLimits` (the e2e suite shortens them). */
export function viewLimits(): ViewLimits {
  const given = (globalThis as { moltViewLimits?: Partial<ViewLimits> }).moltViewLimits;
  return { ...LIMITS, ...(given && typeof given === 'object' ? given : {}) };
}

export const PROBE_URL = '/view-probe.js';

export type Loaded =
  | {
      readonly ok: true;
      readonly view: FeedView;
      /** Call once the page is built with this view: ends the trial. */
      readonly settled: () => void;
      /** How the probe went: 'passed' or why there was none. */
      readonly probe: string;
      readonly ms: { fetch: number; probe: number; import: number };
    }
  | { readonly ok: false; readonly reason: string };

export async function loadView(url: string, input: () => Promise<ProbeInput>, limits: ViewLimits = viewLimits()): Promise<Loaded> {
  const froze = frozenBefore(url, limits);
  if (froze) return { ok: false, reason: froze };

  let t = performance.now();
  const fetched = await fetchWithin(url, limits.fetchMs);
  if (fetched !== null) return { ok: false, reason: fetched };
  const fetchMs = performance.now() - t;

  t = performance.now();
  const probed = await probeInWorker(await input(), limits);
  const probeMs = performance.now() - t;
  if (probed.verdict === 'fail') return { ok: false, reason: probed.reason };
  if (probed.verdict === 'unavailable') console.warn(`molt: the view probe could not run (${probed.reason}); loading ${url} unprobed`);
  else if (probed.threw.length) console.info(`molt: the view probe saw ${probed.threw.length} call(s) throw (the page judges throws itself):`, probed.threw);

  t = performance.now();
  const end = beginTrial(url, limits);
  let mod: unknown;
  try {
    mod = await within(import(/* @vite-ignore */ url), limits.fetchMs, `it did not load within ${secs(limits.fetchMs)}`);
  } catch (err) {
    end();
    return { ok: false, reason: (err as { timeout?: boolean }).timeout ? (err as Error).message : `its code threw ${describe(err)}` };
  }
  const view = feedViewOf(mod);
  if (typeof view === 'string') {
    end();
    return { ok: false, reason: view };
  }
  return {
    ok: true,
    view,
    settled: end,
    probe: probed.verdict === 'pass' ? 'passed' : `unavailable: ${probed.reason}`,
    ms: { fetch: fetchMs, probe: probeMs, import: performance.now() - t },
  };
}

// ------------------------------------------------------------------ fetch

/** Fetch the module so it is in the cache; null when it came, else why not. */
async function fetchWithin(url: string, ms: number): Promise<string | null> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    const res = await fetch(url, { signal: abort.signal });
    if (!res.ok) return `the server answered ${res.status} for it`;
    await res.arrayBuffer();
    return null;
  } catch (err) {
    return abort.signal.aborted ? `it did not arrive within ${secs(ms)}` : `it could not be fetched (${describe(err)})`;
  } finally {
    clearTimeout(timer);
  }
}

function within<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(message), { timeout: true })), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ------------------------------------------------------------------ the probe

export type ProbeVerdict =
  | { readonly verdict: 'pass'; readonly threw: readonly string[] }
  | { readonly verdict: 'fail'; readonly reason: string }
  | { readonly verdict: 'unavailable'; readonly reason: string };

const STEP_WORDS: Record<ProbeStep | 'start', string> = {
  start: 'the probe did not start',
  import: 'its code did not finish loading',
  render: 'drawing a post did not finish',
  regions: 'building its pages did not finish',
  settle: 'something it scheduled did not finish',
};

/** Run the probe in a worker; terminate it when a step runs past its limit. */
export function probeInWorker(input: ProbeInput, limits: ViewLimits): Promise<ProbeVerdict> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(PROBE_URL, { type: 'module', name: 'molt view probe' });
    } catch (err) {
      return resolve({ verdict: 'unavailable', reason: describe(err) });
    }
    let step: ProbeStep | 'start' = 'start';
    let timer: ReturnType<typeof setTimeout> | null = null;
    let over = false;
    const finish = (v: ProbeVerdict): void => {
      if (over) return;
      over = true;
      if (timer) clearTimeout(timer);
      worker.terminate();
      resolve(v);
    };
    const arm = (ms: number): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        if (step === 'start') finish({ verdict: 'unavailable', reason: `its worker did not start within ${secs(ms)}` });
        else finish({ verdict: 'fail', reason: `${STEP_WORDS[step]} within ${secs(ms)} (it may loop)` });
      }, ms);
    };
    arm(limits.startMs);
    worker.addEventListener('message', (ev: MessageEvent<ProbeMessage | { t: 'ready' }>) => {
      const m = ev.data;
      if (m.t === 'ready') worker.postMessage(input);
      else if (m.t === 'step') {
        step = m.step;
        arm(m.step === 'import' ? limits.importMs : limits.probeMs);
      } else if (m.t === 'done') finish(m.refused ? { verdict: 'fail', reason: m.refused } : { verdict: 'pass', threw: m.threw });
    });
    worker.addEventListener('error', (ev) => {
      // before it is ready: the worker itself could not run (a CSP without worker-src 'self', say);
      // after: something the view scheduled threw in the worker, which the probe does not judge
      ev.preventDefault();
      if (step === 'start') finish({ verdict: 'unavailable', reason: `its worker failed to start${ev.message ? ` (${ev.message})` : ''}` });
    });
  });
}

// ------------------------------------------------------------------ the trial mark

const TRIALS_KEY = 'molt.view-trials';
const FROZE_KEY = 'molt.views-froze';
/** How many views this browser remembers as having frozen a page. */
const FROZE_KEEP = 20;
const tab = Math.random().toString(36).slice(2);

type Trials = Record<string, { url: string; at: number }>;

function read<T>(key: string, fallback: T): T {
  try {
    const raw = localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : fallback;
  } catch {
    return fallback;
  }
}

function write(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage full or denied: the mark is a help, not a need
  }
}

/** Why this view must not run here (it froze a page of this browser), or null. Moves stale trials
 *  (pages that never finished building) to the record first. */
function frozenBefore(url: string, limits: ViewLimits): string | null {
  const trials = read<Trials>(TRIALS_KEY, {});
  let froze = read<string[]>(FROZE_KEY, []);
  let changed = false;
  for (const [id, trial] of Object.entries(trials)) {
    if (typeof trial?.at !== 'number' || Date.now() - trial.at > limits.trialStaleMs) {
      if (typeof trial?.url === 'string' && !froze.includes(trial.url)) froze = [...froze, trial.url].slice(-FROZE_KEEP);
      delete trials[id];
      changed = true;
    }
  }
  if (changed) {
    write(TRIALS_KEY, trials);
    write(FROZE_KEY, froze);
  }
  return froze.includes(url) ? 'it froze a page of this browser before' : null;
}

/** Mark this tab as running `url` for the first time; the mark is kept fresh until the returned
 *  function is called. */
function beginTrial(url: string, limits: ViewLimits): () => void {
  const mark = (): void => write(TRIALS_KEY, { ...read<Trials>(TRIALS_KEY, {}), [tab]: { url, at: Date.now() } });
  mark();
  const beat = setInterval(mark, Math.max(250, Math.floor(limits.trialStaleMs / 4)));
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    clearInterval(beat);
    removeEventListener('pagehide', end);
    const trials = read<Trials>(TRIALS_KEY, {});
    delete trials[tab];
    write(TRIALS_KEY, trials);
  };
  // a page closed (or left) normally has not frozen
  addEventListener('pagehide', end);
  return end;
}

function secs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
