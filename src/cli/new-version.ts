/**
 * `molt new-version`: start the next feed version. From the newest version N in src/feed (released:
 * the version after it starts only once N is done), it writes
 *
 *   src/feed/v{N+1}/         index.ts (vN under the new number, every export reused by import),
 *                            state.ts, and shape.ts and view.ts where vN has them
 *   migrations/00N-vN-to-v{N+1}.ts
 *                            the step, whose up and down are placeholders: tsc refuses them and, run,
 *                            they throw, each saying what to write, so `npm test` fails until they are
 *                            written (as Lamdera blocks a deploy on an unimplemented migration)
 *   migrations/index.ts      the step added to the chain
 *   test/feed/v{N+1}.test.ts the shared contract suite on the new version
 *   test/fixtures/vN.state.json
 *                            vN's state, made by its own commands, when it is missing (frozen after)
 *   docs/FEED.md             the new version's sections, to fill in
 *
 * Nothing is written unless everything can be: a refusal leaves the tree as it was.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command, Context, FeedVersion } from '../contract.ts';
import { readArchive } from '../release/build.ts';

/** A reason not to scaffold: said to the operator as it is (exit status 2). */
export class ScaffoldError extends Error {
  override name = 'ScaffoldError';
}

export interface Scaffold {
  from: number;
  version: number;
  /** Files written, relative to the root, with what each is. */
  made: { file: string; what: string }[];
  /** Files it would have written but left as they were. */
  kept: { file: string; what: string }[];
  next: string[];
}

/** The version folders in src/feed, by number. */
export function versionsIn(root: string): number[] {
  const feed = path.join(root, 'src/feed');
  return readdirSync(feed, { withFileTypes: true })
    .filter((d) => d.isDirectory() && /^v\d+$/.test(d.name) && existsSync(path.join(feed, d.name, 'index.ts')))
    .map((d) => Number(d.name.slice(1)))
    .sort((a, b) => a - b);
}

export async function newVersion(root: string): Promise<Scaffold> {
  const versions = versionsIn(root);
  const n = versions.at(-1);
  if (n === undefined) throw new ScaffoldError('no feed version in src/feed: new-version starts from the newest one');
  const m = n + 1;
  if (!readArchive(n, root))
    throw new ScaffoldError(`v${n} exists and is not released yet: finish it (npm test says what is left) and release it (npm run release -- ${n}) before starting v${m}. Nothing was written.`);

  const prev = (await import(pathToFileURL(path.join(root, 'src/feed', `v${n}`, 'index.ts')).href)) as FeedVersion;
  const has = (file: string) => existsSync(path.join(root, 'src/feed', `v${n}`, file));
  const step = `${String(n).padStart(3, '0')}-v${n}-to-v${m}.ts`;
  const name = `v${n}ToV${m}`;
  const files = new Map<string, { text: string; what: string }>();
  const add = (file: string, what: string, text: string) => files.set(file, { text, what });

  add(`src/feed/v${m}/index.ts`, `v${n} under a new number: every export reused by import`, indexTs(n, m, has('shape.ts'), has('state.ts')));
  if (has('state.ts')) add(`src/feed/v${m}/state.ts`, `v${n}'s state types`, `/** Feed v${m}'s state: v${n}'s so far. Write v${m}'s own types here when its state changes (import what stays). */\nexport type * from '../v${n}/state.ts';\n`);
  if (has('shape.ts')) add(`src/feed/v${m}/shape.ts`, `v${n}'s collections (where the migration runner finds entities)`, `/** Where v${m}'s entities live: v${n}'s collections so far. Name v${m}'s own here when its state changes. */\nexport { shape } from '../v${n}/shape.ts';\n`);
  if (has('view.ts')) add(`src/feed/v${m}/view.ts`, `v${n}'s browser view under v${m}'s number`, viewTs(n, m));
  add(`migrations/${step}`, 'up and down are placeholders: npm test fails until you write them', migrationTs(n, m, name, step, prev, has('shape.ts'), has('state.ts')));
  add('migrations/index.ts', `the step ${n}->${m} added to the chain`, chainWith(readFileSync(path.join(root, 'migrations/index.ts'), 'utf8'), name, step));
  add(`test/feed/v${m}.test.ts`, `the shared contract suite on v${m}`, contractTest(m, prev));
  add('docs/FEED.md', `sections "Version ${m}" and "Migration ${n} -> ${m} and back", to fill in`, `${readFileSync(path.join(root, 'docs/FEED.md'), 'utf8').trimEnd()}\n\n${docsStub(n, m, step)}`);

  const kept: Scaffold['kept'] = [];
  const fixture = `test/fixtures/v${n}.state.json`;
  if (existsSync(path.join(root, fixture))) kept.push({ file: fixture, what: `v${n}'s frozen state, as it was` });
  else add(fixture, `v${n}'s state, made by its own commands (frozen: never regenerate it)`, `${JSON.stringify(fixtureOf(prev))}\n`);

  const taken = [...files.keys()].filter((f) => f !== 'migrations/index.ts' && f !== 'docs/FEED.md' && existsSync(path.join(root, f)));
  if (taken.length > 0) throw new ScaffoldError(`v${m} is already started: ${taken.join(', ')} exist${taken.length === 1 ? 's' : ''}. Nothing was written.`);

  for (const [file, { text }] of files) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }
  return {
    from: n,
    version: m,
    made: [...files].map(([file, { what }]) => ({ file, what })),
    kept,
    next: [
      `change v${m} in src/feed/v${m}/: import what stays from v${n} and write what is new (never edit v${n}: it is released)`,
      `write up and down in migrations/${step} (tsc and the property checks say what is missing); set lossless: true if down(up(s)) is s`,
      `describe v${m} in docs/FEED.md, then npm test`,
      `try it: npm start, then npx molt push ${m} --dry-run`,
      `release it when it is done: npm run release -- ${m} (commit releases/v${m}.json and src/feed/released.json)`,
    ],
  };
}

export function formatScaffold(s: Scaffold): string {
  const width = Math.max(...[...s.made, ...s.kept].map((f) => f.file.length));
  return [
    `molt new-version: v${s.version} started from v${s.from}`,
    '  made',
    ...s.made.map((f) => `    ${f.file.padEnd(width)}  ${f.what}`),
    ...(s.kept.length ? ['  kept', ...s.kept.map((f) => `    ${f.file.padEnd(width)}  ${f.what}`)] : []),
    '  next',
    ...s.next.map((line, i) => `    ${i + 1}. ${line}`),
  ].join('\n');
}

// ---------------------------------------------------------------- the files

function indexTs(n: number, m: number, shape: boolean, state: boolean): string {
  const type = state ? 'State' : 'unknown';
  return `/**
 * Feed version ${m}: version ${n} under a new number, so far. Say here what v${m} changes for people.
 * Everything of v${n} stays, reused by import: a released version is never edited or copied. Replace an
 * export below with v${m}'s own when v${m} changes it. docs/FEED.md is the client's reference;
 * migrations/${String(n).padStart(3, '0')}-v${n}-to-v${m}.ts brings a v${n} state here.
 */
import type { FeedVersion } from '../../contract.ts';
import * as v${n} from '../v${n}/index.ts';
${shape ? `import { shape } from './shape.ts';\n` : ''}${state ? `import type { State } from './state.ts';\n\nexport type * from './state.ts';\n` : ''}
export const version = ${m};
/** What a client may send; \`presence\` is the kernel's own and not listed. */
export const commands: readonly string[] = v${n}.commands;
export const { init, handle, validate, census, sample } = v${n};
${shape ? 'export { shape };\n' : ''}
({ version, commands, init, handle, validate, census, sample${shape ? ', shape' : ''} }) satisfies FeedVersion<${type}>;
`;
}

function viewTs(n: number, m: number): string {
  return `/**
 * Feed v${m}'s browser view: v${n}'s, under v${m}'s number (a view names the version it renders, and
 * the client checks it against the hello). Write v${m}'s own here when its posts or pages change.
 */
import v${n} from '../v${n}/view.ts';

export * from '../v${n}/view.ts';

const view: typeof v${n} = { ...v${n}, version: ${m} };

export default view;
`;
}

function migrationTs(n: number, m: number, name: string, step: string, prev: FeedVersion, shape: boolean, state: boolean): string {
  const kinds = prev.shape ? Object.keys(prev.shape) : Object.keys(prev.census(prev.init()));
  const A = state ? `V${n}` : 'unknown';
  const B = state ? `V${m}` : 'unknown';
  const up =
    `Write up in migrations/${step}: how a v${n} state becomes a v${m} state. ` +
    `Map each entity that changes, kind by kind (each: {${kinds.join(', ')}}: one entity in, one out), build the rest in finish(state, mapped), ` +
    `and declare every change in changes (add, remove, change, rename, drops, creates: the kernel refuses any other difference). ` +
    `If v${m} does not change the state: up: { describe: 'Nothing changes for people', each: {}, finish: (state) => ({ state }) }`;
  const down =
    `Write down in migrations/${step}: how a v${m} state goes back to a v${n} state, declaring what it loses (ctx.drop(kind, n) in each, or dropped from finish), ` +
    `or delete down to make the step irreversible on purpose (molt rollback then refuses it). ` +
    `If v${m} does not change the state: down: { describe: 'Nothing changes for people', each: {}, finish: (state) => ({ state }) }, and set lossless: true on the step`;
  const upShort = `write up: how a v${n} state becomes a v${m} state (the comment at the top of this file says how)`;
  const downShort = `write down: how a v${m} state goes back to a v${n} state, or delete it to make the step irreversible`;
  return `/**
 * ${n} -> ${m}: NOT WRITTEN YET. \`up\` and \`down\` are placeholders: tsc refuses them and, run, they throw,
 * each saying what to write, so \`npm test\` fails until both are written.
 *
 * Write them one entity at a time, as migrations/002-v2-to-v3.ts does (src/contract.ts, Direction):
 *   describe   one plain sentence for the people watching
 *   changes    every change, per kind: {add, remove, change, rename, drops, creates, reorders, removed}
 *   each       {kind: (entity, ctx) => entity}, pure; ctx.drop(kind, n) for what migrating it loses
 *   finish     (state, mapped, ctx) => {state, dropped?}: the rest of the state, without a walk
 * The property checks (test/migrations/properties.test.ts) run this step on states made by v${n}'s and
 * v${m}'s own commands, and hold \`lossless: true\`, if you set it, to down(up(s)) = s. Then delete the
 * two placeholders and the \`unwritten\` helper below, and say what the step does in docs/FEED.md.
 * While v${m} keeps v${n}'s state as it is, both directions change nothing:
 *   up: { describe: 'Nothing changes for people', each: {}, finish: (state) => ({ state }) }, the same
 *   for down, and lossless: true.
 */
import type { Migration } from '../src/contract.ts';
${shape ? `import { shape as v${n}Shape } from '../src/feed/v${n}/shape.ts';\nimport { shape as v${m}Shape } from '../src/feed/v${m}/shape.ts';\n` : ''}${state ? `import type { State as V${n} } from '../src/feed/v${n}/state.ts';\nimport type { State as V${m} } from '../src/feed/v${m}/state.ts';\n` : ''}
export const ${name}: Migration<${A}, ${B}> = {
  from: ${n},
  to: ${m},
  describe: 'not written yet',
${shape ? `  shapes: { from: v${n}Shape, to: v${m}Shape },\n` : ''}  up: unwritten(${JSON.stringify(upShort)}, ${JSON.stringify(up)}),
  down: unwritten(${JSON.stringify(downShort)}, ${JSON.stringify(down)}),
};

/** A direction not written yet: where a direction is expected tsc refuses it, showing \`todo\`; run, it throws \`how\`. */
interface Unwritten<Todo extends string> {
  (state: never, ctx: never): never;
  readonly unwritten: Todo;
}

function unwritten<const Todo extends string>(todo: Todo, how: string): Unwritten<Todo> {
  const fail = (): never => {
    throw new Error(how);
  };
  return Object.assign(fail, { unwritten: todo });
}
`;
}

/** migrations/index.ts with the new step imported and appended to the chain. */
export function chainWith(source: string, name: string, step: string): string {
  const list = /(export const migrations\b[^=]*=\s*\[)([^\]]*)(\])/;
  const found = list.exec(source);
  if (!found) throw new ScaffoldError('migrations/index.ts has no `export const migrations = [...]` to add the step to. Nothing was written.');
  const items = found[2]!.trim().replace(/,$/, '');
  const withStep = source.replace(list, `$1${items ? `${items}, ` : ''}${name}$3`);
  const imports = [...withStep.matchAll(/^import .*;$/gm)];
  const last = imports.at(-1);
  const line = `import { ${name} } from './${step}';`;
  if (!last) return `${line}\n${withStep}`;
  const at = last.index + last[0].length;
  return `${withStep.slice(0, at)}\n${line}${withStep.slice(at)}`;
}

function contractTest(m: number, prev: FeedVersion): string {
  const kinds = Object.keys(prev.census(prev.init()));
  const mark = prev.commands.includes('react')
    ? `{ counter: 'reactions', on: (post: string) => ({ type: 'react', post, emoji: '🎉' }), off: (post: string) => ({ type: 'unreact', post, emoji: '🎉' }) }`
    : prev.commands.includes('like')
      ? `{ counter: 'likes', on: (post: string) => ({ type: 'like', post }), off: (post: string) => ({ type: 'unlike', post }) }`
      : null;
  return `/**
 * Feed v${m}: the shared contract suite (contract.case.ts), as every version runs it. Add v${m}'s own
 * behaviour here as it grows (see v3.test.ts), and its census kinds below when they change.
 */
import * as v${m} from '../../src/feed/v${m}/index.ts';
import { contractSuite } from './contract.case.ts';

contractSuite({ feed: v${m}, kinds: ${JSON.stringify(kinds).replace(/"/g, "'").replace(/,/g, ', ')}${mark ? `, mark: ${mark}` : ''} });
`;
}

function docsStub(n: number, m: number, step: string): string {
  return `## Version ${m}

So far version ${m} is version ${n} under a new number: every command, reply, refusal and event of v${n},
unchanged. (Say here what v${m} adds and changes, as the sections above do: new and changed commands,
the PostView, events, refusal codes.)

## Migration ${n} -> ${m} and back

\`migrations/${step}\`: not written yet. (Say here what up and down do to people's data: what is kept
exactly, what changes, what down drops.)
`;
}

/** vN's state made by its own commands, the way people would, for the frozen fixture. */
export function fixtureOf(feed: FeedVersion): unknown {
  let state = feed.init();
  let now = Date.UTC(2025, 0, 6, 9, 0, 0);
  let tokens = 0;
  const has = (type: string) => feed.commands.includes(type);
  const send = (user: string | null, command: Command): any => {
    now += 61_000;
    const ctx: Context = { now, token: () => `fixture-token-${++tokens}`, caller: { conn: 'c1', user, system: false }, online: [] };
    const out = feed.handle(state, command, ctx);
    if ('error' in out) return null;
    state = out.state;
    return out.reply ?? {};
  };
  const join = (handle: string): string | null => send(null, { type: 'join', handle })?.user?.id ?? null;
  const alice = join('alice');
  const bob = join('Bob_the_Builder');
  const carol = join('carol');
  const hello = send(alice, { type: 'post', text: `Hello from v${feed.version}! Say hi to @carol #molt` })?.post?.id;
  const reply = send(bob, { type: 'post', text: 'Welcome aboard 👋', replyTo: hello })?.post?.id;
  send(carol, { type: 'post', text: 'replying to a reply', replyTo: reply });
  if (has('like')) send(bob, { type: 'like', post: hello });
  if (has('react')) {
    send(carol, { type: 'react', post: hello, emoji: '🎉' });
    send(alice, { type: 'react', post: reply, emoji: '😂' });
  }
  if (has('follow')) {
    send(bob, { type: 'follow', user: alice });
    send(carol, { type: 'follow', user: alice });
  }
  if (has('update_profile')) send(alice, { type: 'update_profile', name: 'Alice Liddell', bio: 'Curiouser and curiouser.' });
  if (has('edit')) send(alice, { type: 'edit', post: hello, text: `Hello from v${feed.version}! Say hi to @carol and @Bob_the_Builder #molt` });
  const oops = send(carol, { type: 'post', text: 'oops, wrong feed' })?.post?.id;
  if (has('delete')) send(carol, { type: 'delete', post: oops });
  send(bob, { type: 'post', text: 'x'.repeat(500) });
  const problems = feed.validate(state);
  if (problems.length > 0) throw new ScaffoldError(`v${feed.version}'s own commands made a state its validate() rejects: ${problems.slice(0, 3).join('; ')}. Nothing was written.`);
  return state;
}
