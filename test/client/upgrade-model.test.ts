import { describe, expect, it } from 'vitest';
import type { UpgradeFrame } from '../../src/transport/protocol.ts';
import { foldUpgrade, headline, plainSentence, type UpgradeModel } from '../../client/src/upgrade-model.ts';

const frame = (phase: string, extra: Partial<UpgradeFrame> = {}): UpgradeFrame => ({
  t: 'upgrade',
  upgrade: 'up1',
  phase: phase as UpgradeFrame['phase'],
  direction: 'up',
  dryRun: false,
  from: { version: 1, release: 'aaaa' },
  to: { version: 2, release: 'bbbb' },
  ...extra,
});

const fold = (frames: UpgradeFrame[]): UpgradeModel => frames.reduce<UpgradeModel | null>((m, f) => foldUpgrade(m, f), null)!;

describe('foldUpgrade', () => {
  it('collects phases, timings, counts, the sample and the pause of a committed upgrade', () => {
    const m = fold([
      frame('begin'),
      frame('load', { ms: 3, detail: { steps: [{ step: '1->2', describe: 'likes become reactions' }] } }),
      frame('migrate', { ms: 5, detail: { census: { posts: 2, likes: 1 }, dropped: {}, sample: { kind: 'post', id: 'p1', before: { likes: 1 }, after: { reactions: { '❤️': 1 } } } } }),
      frame('validate', { ms: 1, detail: { census: { posts: 2, reactions: 1 } } }),
      frame('committed', { ms: 0.5, detail: { pauseMs: 7 } }),
    ]);
    expect(m.phases.map((p) => p.phase)).toEqual(['begin', 'load', 'migrate', 'validate', 'committed']);
    expect(m).toMatchObject({ outcome: 'committed', totalMs: 9.5, pauseMs: 7, dropped: {}, error: null });
    // begin's ms is the load's: counted once
    expect(fold([frame('begin', { ms: 3 }), frame('load', { ms: 3 }), frame('refused', { ms: 0 })]).totalMs).toBe(3);
    expect(m.sample).toEqual({ kind: 'post', id: 'p1', before: { likes: 1 }, after: { reactions: { '❤️': 1 } } });
    expect(m.census).toEqual({ before: { posts: 2, likes: 1 }, after: { posts: 2, reactions: 1 } });
    expect(m.steps).toEqual([{ step: '1->2', describe: 'likes become reactions' }]);
    expect(headline(m)).toBe('Upgraded to v2');
  });

  it('fills in what it missed from the report a committed frame carries', () => {
    const report = { census: { before: { posts: 1 }, after: { posts: 1 } }, dropped: { reactions: 2 }, pauseMs: 3, queued: 4, steps: [], sample: null };
    const m = fold([frame('committed', { ms: 1, detail: { report, pauseMs: 3 } })]);
    expect(m).toMatchObject({ outcome: 'committed', census: report.census, dropped: { reactions: 2 }, pauseMs: 3, queued: 4 });
    // the whole time, and the migrate phase's (its frames are progress, with no ms)
    const timed = fold([frame('begin', { ms: 300 }), frame('load', { ms: 300 }), frame('migrate', { detail: {} }), frame('committed', { ms: 0.1, detail: { report: { ...report, totalMs: 7200, phases: { load: 300, migrate: 6790, validate: 100 } } } })]);
    expect(timed.totalMs).toBe(7200);
    expect(timed.phases.find((p) => p.phase === 'migrate')?.ms).toBe(6790);
  });

  it('keeps the reason of a refusal, and the step it stopped in', () => {
    const m = fold([frame('begin'), frame('refused', { ms: 2, detail: { error: { code: 'E_RELEASE_LOAD', message: 'boom' } } })]);
    expect(m).toMatchObject({ outcome: 'refused', error: { code: 'E_RELEASE_LOAD', message: 'boom' }, failedAt: 'load' });
    const inMigrate = fold([frame('begin'), frame('load', { ms: 1 }), frame('migrate', { detail: {} }), frame('refused', { detail: { error: { code: 'E_MIGRATION_THREW', message: 'x' }, phase: 'migrate' } })]);
    expect(inMigrate.failedAt).toBe('migrate');
    // a whole-state step throws while the server checks: still the migration's step
    expect(fold([frame('begin'), frame('refused', { detail: { error: { code: 'E_MIGRATION_THREW', message: 'x' }, phase: 'validate' } })]).failedAt).toBe('migrate');
    expect(fold([frame('begin'), frame('refused', { detail: { error: { code: 'E_UNDECLARED', message: 'x' }, phase: 'migrate' } })]).failedAt).toBe('validate');
    // the two processes built different states: found comparing them, a check of the new state
    expect(fold([frame('begin'), frame('refused', { detail: { error: { code: 'E_DIVERGED', message: 'x' }, phase: 'cutover' } })]).failedAt).toBe('validate');
    expect(fold([frame('begin'), frame('held'), frame('refused', { detail: { error: { code: 'E_ABORTED', message: 'x' }, phase: 'held' } })]).failedAt).toBe('committed');
    expect(headline(m)).toBe('Upgrade to v2 refused');
    // the operator's abort is not the release's failure
    const aborted = fold([frame('begin'), frame('held'), frame('refused', { detail: { error: { code: 'E_ABORTED', message: 'the operator aborted the upgrade before its cut-over; nothing changed' }, phase: 'held' } })]);
    expect(headline(aborted)).toBe('Upgrade to v2 called off');
    expect(plainSentence({ ...aborted, describe: null })).toBe('The operator called off an update of the feed: nothing changed for you.');
  });

  it('shows no target for an attempt refused before its release loaded (the server sends `to` as `from` then)', () => {
    const same = { from: { version: 1, release: 'aaaa' }, to: { version: 1, release: 'aaaa' } };
    const m = fold([frame('refused', { ...same, ms: 0, detail: { error: { code: 'E_RELEASE_LOAD', message: 'release bbbb failed to load: SyntaxError' }, phase: 'begin' } })]);
    expect(m).toMatchObject({ outcome: 'refused', unloaded: true, failedAt: 'load' });
    expect(headline(m)).toBe('Update refused before its release loaded');
    expect(plainSentence(m)).toBe('An update of the feed was tried and refused: nothing changed for you.');
    const aborted = fold([frame('refused', { ...same, detail: { error: { code: 'E_ABORTED', message: 'x' }, phase: 'begin' } })]);
    expect(headline(aborted)).toBe('Update called off');
    // loaded, then refused: the target is known and named
    const loaded = fold([frame('refused', { to: { version: 1, release: 'aaaa' }, detail: { error: { code: 'E_SAME_VERSION', message: 'x' }, phase: 'load' } })]);
    expect(loaded.unloaded).toBe(false);
    expect(headline(loaded)).toBe('Upgrade to v1 refused');
  });

  it('starts over when frames of another attempt arrive', () => {
    const first = fold([frame('begin'), frame('committed')]);
    const second = foldUpgrade(first, frame('begin', { upgrade: 'up2', direction: 'down', from: { version: 2, release: 'bbbb' }, to: { version: 1, release: 'aaaa' } }));
    expect(second).toMatchObject({ id: 'up2', outcome: 'running', phases: [{ phase: 'begin' }] });
    expect(headline(second!)).toBe('Rolling back to v1…');
  });

  it('calls a dry run a dry run', () => {
    const m = fold([frame('begin', { dryRun: true }), frame('dry-run', { dryRun: true, ms: 4 })]);
    expect(headline(m)).toBe('Dry run to v2 passed');
  });
});

describe('foldUpgrade, online migration frames', () => {
  it('leads with the plain sentence of begin, and falls back to one of its own', () => {
    const m = fold([frame('begin', { detail: { kind: 'push', describe: 'Likes are becoming emoji reactions', steps: [], online: true, pace: null, hold: false } })]);
    expect(plainSentence(m)).toBe('Likes are becoming emoji reactions');
    expect(plainSentence(fold([frame('begin')]))).toBe('The feed is being updated to version 2; keep reading and writing.');
    expect(plainSentence(fold([frame('begin'), frame('refused', { detail: { error: { code: 'E_X', message: 'x' } } })]))).toMatch(/refused: nothing changed/);
  });

  it('keeps the newest progress of repeated migrate frames and does not sum their times', () => {
    const progress = (done: number, round = 0) => ({ progress: { kinds: { posts: { done, total: 1000 } }, done, total: 1000, rate: 5000, etaMs: 120, round } });
    const m = fold([frame('begin'), frame('migrate', { ms: 10, detail: progress(100) }), frame('migrate', { ms: 20, detail: progress(400) }), frame('catch-up', { ms: 3, detail: { round: 1, entities: 12, ms: 3 } })]);
    expect(m.progress).toEqual({ done: 400, total: 1000, rate: 5000, etaMs: 120, round: 0, kinds: { posts: { done: 400, total: 1000 } } });
    expect(m.catchUp).toEqual({ round: 1, entities: 12, ms: 3 });
    expect(m.totalMs).toBe(23);
    expect(m.outcome).toBe('running');
  });

  it('says when it is held for the operator and when the cut-over pause begins', () => {
    const held = fold([frame('begin'), frame('held', { detail: { progress: { done: 5, total: 5, kinds: {} } } })]);
    expect(held.held).toBe(true);
    expect(headline(held)).toBe('v2 is ready, waiting for the switch');
    const cutting = foldUpgrade(held, frame('cutover', { detail: {} }))!;
    expect(cutting).toMatchObject({ cuttingOver: true, held: false });
    expect(headline(cutting)).toBe('Switching to v2…');
    expect(foldUpgrade(cutting, frame('committed', { detail: { changed: { posts: ['p2', 'p1', 7] } } }))).toMatchObject({ cuttingOver: false, outcome: 'committed', changed: { posts: ['p2', 'p1'] } });
  });

  it('times an aborted or refused attempt by the wall clock, the hold included, and its migration between frames', () => {
    // the frames of `molt push 2 --hold --pace 1500` aborted while held, as the server sends them,
    // with the time (ms) this page received each: only begin, load and validate carry an ms
    const steps = [{ step: '1->2', describe: 'Likes are becoming emoji reactions: every like turns into a ❤️.' }];
    const progress = (done: number) => ({ progress: { kinds: { posts: { done, total: 3000 } }, done, total: 3000, rate: 1500, etaMs: ((3000 - done) / 1500) * 1000, round: 0 }, steps, dryRun: false });
    const census = { users: 3, posts: 3000, reactions: 40 };
    const received: [UpgradeFrame, number][] = [
      [frame('begin', { ms: 95.5, detail: { kind: 'push', describe: steps[0]!.describe, steps, hold: true, pace: { perSecond: 1500 }, dryRun: false } }), 10_000],
      [frame('load', { ms: 95.5, detail: { steps } }), 10_001],
      [frame('migrate', { detail: progress(0) }), 10_020],
      [frame('migrate', { detail: progress(1500) }), 11_020],
      [frame('migrate', { detail: progress(2976) }), 12_004],
      [frame('validate', { ms: 17.4, detail: { census } }), 12_070],
      [frame('held', { detail: { progress: progress(3000).progress, census } }), 12_090],
      [frame('refused', { detail: { error: { code: 'E_ABORTED', message: 'the operator aborted the upgrade before its cut-over; nothing changed' }, phase: 'held' } }), 16_400],
    ];
    const m = received.reduce<UpgradeModel | null>((model, [f, at]) => foldUpgrade(model, f, at), null)!;
    expect(headline(m)).toBe('Upgrade to v2 called off');
    // the load (before the first frame), then 6.4 s from begin to the refusal: not 95.5 + 17.4 ms
    expect(m.totalMs).toBeCloseTo(95.5 + 6400, 6);
    // the migration ran from its first progress frame to validate
    expect(m.phases.find((p) => p.phase === 'migrate')?.ms).toBe(2050);
    // refused while it migrated: the migration ran until the refusal
    const cut = [...received.slice(0, 4), [frame('refused', { detail: { error: { code: 'E_ABORTED', message: 'x' }, phase: 'migrate' } }), 11_500] as [UpgradeFrame, number]];
    const early = cut.reduce<UpgradeModel | null>((model, [f, at]) => foldUpgrade(model, f, at), null)!;
    expect(early.phases.find((p) => p.phase === 'migrate')?.ms).toBe(1480);
    expect(early.totalMs).toBeCloseTo(95.5 + 1500, 6);
    // a committed attempt's report has the last word, for the whole and for the migration
    const ran = received.slice(0, 6).reduce<UpgradeModel | null>((model, [f, at]) => foldUpgrade(model, f, at), null);
    const committed = foldUpgrade(ran, frame('committed', { ms: 2, detail: { report: { totalMs: 2160, phases: { load: 95.5, migrate: 2040, validate: 17.4 } } } }), 12_100)!;
    expect(committed.totalMs).toBe(2160);
    expect(committed.phases.find((p) => p.phase === 'migrate')?.ms).toBe(2040);
  });

  it('knows the census before from the first migrate frame on, and the one after once validated', () => {
    const before = { users: 3, posts: 3000, likes: 40 };
    const after = { users: 3, posts: 3000, reactions: 40 };
    const progress = { kinds: { posts: { done: 0, total: 3000 } }, done: 0, total: 3000, rate: 0, etaMs: null, round: 0 };
    // as the server sends them: `before` in every frame once counted, `census` the state after
    const begun = fold([frame('begin', { ms: 90, detail: { kind: 'push', steps: [], hold: true, pace: null, dryRun: false } }), frame('load', { ms: 90, detail: { steps: [] } })]);
    expect(begun.census).toEqual({ before: null, after: null });
    const migrating = foldUpgrade(begun, frame('migrate', { detail: { progress, steps: [], dryRun: false, before } }))!;
    expect(migrating.census).toEqual({ before, after: null });
    const held = foldUpgrade(foldUpgrade(migrating, frame('validate', { ms: 17, detail: { census: after, before } })), frame('held', { detail: { progress, census: after, before } }))!;
    expect(held.census).toEqual({ before, after });
    const aborted = foldUpgrade(held, frame('refused', { detail: { error: { code: 'E_ABORTED', message: 'x' }, phase: 'held', before } }))!;
    expect(aborted.census).toEqual({ before, after });
    // refused in validate, before its census after: before known, after not
    const refused = fold([frame('refused', { detail: { error: { code: 'E_INVARIANT', message: 'x' }, phase: 'validate', before } })]);
    expect(refused.census).toEqual({ before, after: null });
  });

  it('ignores a phase it does not know, so pages loaded before a server change keep working', () => {
    const m = fold([frame('begin'), frame('load', { ms: 1 })]);
    expect(foldUpgrade(m, frame('shadow-run' as UpgradeFrame['phase'], { ms: 9 }))).toBe(m);
    expect(foldUpgrade(null, frame('shadow-run' as UpgradeFrame['phase']))).toBeNull();
  });
});
