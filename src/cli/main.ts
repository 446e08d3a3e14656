import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Status, UpgradeReport } from '../kernel/kernel.ts';
import type { AddressAside } from '../transport/aside.ts';
import { BuildError, ROOT, buildRelease } from '../release/build.ts';
import { ScaffoldError, formatScaffold, newVersion } from './new-version.ts';
import { DEFAULT_TOKEN_FILE, OPERATOR_BODY_LIMIT } from '../transport/token.ts';

const USAGE = `molt: operate a running molt server

  molt push <version|folder>   build a release and upgrade the running server to it, online: the
                               new state is built beside the live one while the feed keeps serving
  molt rollback                go back to the previous release through its down migration
  molt cutover                 cut over an upgrade that waits for it (push --hold), and say once it
                               has committed (exit 1 if it was refused instead)
  molt abort                   stop the running or held upgrade before its cut-over: nothing changes
  molt permanent               make the last upgrade permanent: close its reversible window (until
                               then, a rollback can replay every write since through the previous
                               version: with --replay, or when a step on the way back has no down)
  molt status                  running version, release, uptime, entities, clients, the upgrade in
                               progress, history
  molt build <version|folder>  build a release locally and print its hash (no server); a released
                               version is its archive, releases/vN.json, byte for byte
  molt new-version             start the next feed version from the newest (released) one: its folder,
                               a migration step that fails npm test until written, tests, docs (no server)

push and rollback options
  --dry-run            everything up to the cut-over, on the live state, in the rehearsal; changes nothing
  --hold               migrate and keep the new state caught up, then wait for molt cutover (or abort)
                       (Ctrl-C or SIGTERM while a push or rollback runs aborts it; a second stops waiting
                       for the report)
  --pace N | N%        at most N entities a second, or N% of one CPU: to spare a busy feed, or to watch
  --force              leave a running release whose census() or sample() breaks (the report says
                       what was skipped)
  --replay             (rollback) replay the reversible window even though every step has down
  --accept-drops K=N   accept losing up to N entities of kind K (the dry run shows the counts); a
                       migration that drops more, or drops what was not accepted, is refused

options
  --json               print the result as JSON
  --url URL            operator API (default $MOLT_OPERATOR_URL or http://127.0.0.1:8081)
  --token TOKEN        operator token (default $MOLT_TOKEN, else the token file);
                       a token that starts with '-' is written --token=TOKEN
  --token-file FILE    (default $MOLT_TOKEN_FILE or ${DEFAULT_TOKEN_FILE})

exit status: 0 committed (or a dry run that would commit: its drops are covered by its --accept-drops),
1 refused (or a dry run whose drops need --accept-drops), 2 bad usage or no server`;

class UsageError extends Error {
  /** What --json says it was: E_USAGE (how molt was called), E_UNREACHABLE (no server answered there),
   *  or the code the operator API answered with. */
  constructor(message: string, readonly code = 'E_USAGE') {
    super(message);
  }
}

/** The server refused what was asked (409: another upgrade runs, nothing waits for a cut-over): exit 1, as a refused upgrade. */
class Refused extends Error {
  constructor(readonly error: { code: string; message: string }, what: string) {
    super(`${what} refused: ${error.code}: ${error.message}`);
  }
}

/** --json: what goes wrong is printed as JSON on stdout too. */
let jsonOut = false;

const OPTIONS = {
  json: { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  hold: { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
  replay: { type: 'boolean', default: false },
  'accept-drops': { type: 'string', multiple: true },
  pace: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** parseArgs, with its complaints (an unknown option, a missing value) as usage errors, never a stack. */
function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    const option = /'(-[^']*)'/.exec(message)?.[1] ?? '';
    const name = option.replace(/^-+/, '').split(/[\s=]/)[0]!;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option '${option}'\n\n${USAGE}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name in OPTIONS && OPTIONS[name as keyof typeof OPTIONS].type === 'boolean')
      throw new UsageError(`--${name} takes no value\n\n${USAGE}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name in OPTIONS)
      throw new UsageError(`--${name} needs a value; a value that starts with '-' is written --${name}=VALUE\n\n${USAGE}`);
    throw new UsageError(`${message}\n\n${USAGE}`);
  }
}

/** The options of a push, and of a rollback (which can also replay): no other command takes them. */
const PUSH_FLAGS = ['dry-run', 'hold', 'pace', 'force', 'accept-drops'] as const;
const ROLLBACK_FLAGS = [...PUSH_FLAGS, 'replay'] as const;

async function main(argv: string[]): Promise<number> {
  // before parsing: a call that does not parse, asked for JSON, gets its error as JSON too
  jsonOut = argv.includes('--json');
  const { values, positionals } = parse(argv);
  const [command, target, ...extra] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const json = values.json;
  jsonOut = json;
  // an option of push and rollback given to another command is refused, never ignored: `molt cutover
  // --dry-run` cut over for real
  const upgradeFlags = ROLLBACK_FLAGS.filter((f) => values[f] !== undefined && values[f] !== false);
  const takes: readonly string[] = command === 'push' ? PUSH_FLAGS : command === 'rollback' ? ROLLBACK_FLAGS : [];
  const stray = upgradeFlags.filter((f) => !takes.includes(f));
  if (stray.length) throw new UsageError(`${stray.map((f) => `--${f}`).join(', ')}: not an option of molt ${command}${takes.length ? '' : ` (only push and rollback take ${stray.length === 1 ? 'it' : 'them'})`}: nothing was done\n\n${USAGE}`);
  const dryRun = values['dry-run'];
  if (dryRun && values.hold) throw new UsageError(`--dry-run and --hold do not go together: a dry run ends before the cut-over, so it never waits for one\n\n${USAGE}`);
  const api = () => operator(values.url, values.token, values['token-file']);

  const accepted = values['accept-drops'] ? parseDrops(values['accept-drops']) : undefined;
  const pace = values.pace !== undefined ? parsePace(values.pace) : undefined;
  const upgradeOptions = () => ({ dryRun, hold: values.hold, force: values.force, ...(values.replay ? { replay: true } : {}), ...(accepted ? { acceptDrops: accepted } : {}), ...(pace ? { pace } : {}) });

  switch (command) {
    case 'push': {
      if (!target) throw new UsageError('push needs a version number or a version folder: molt push 2');
      const release = await buildRelease(target);
      const client = api();
      const expect = (await client.get<Status>('/status', { release: 'string' })).release;
      const report = await interruptible(client, (upgrade) => watching(client, json, () => client.post<UpgradeReport>('/upgrade', { release: { code: release.code, view: release.view, hash: release.hash }, expect, upgrade, ...upgradeOptions() }, REPORT)));
      print(json ? JSON.stringify(report, null, 2) : formatReport(report, accepted));
      return upgradeExit(report, accepted);
    }
    case 'rollback': {
      if (target) throw new UsageError('rollback takes no version: it returns to the release that ran before');
      const client = api();
      const expect = (await client.get<Status>('/status', { release: 'string' })).release;
      const report = await interruptible(client, (upgrade) => watching(client, json, () => client.post<UpgradeReport>('/rollback', { expect, upgrade, ...upgradeOptions() }, REPORT)));
      print(json ? JSON.stringify(report, null, 2) : formatReport(report, accepted));
      return upgradeExit(report, accepted);
    }
    case 'permanent': {
      if (target) throw new UsageError('permanent takes no arguments');
      const done = await api().post<{ upgrade: string }>('/permanent', {}, { upgrade: 'string' });
      print(json ? JSON.stringify(done) : `upgrade ${done.upgrade.slice(0, 8)} is permanent: rollback now goes back through down`);
      return 0;
    }
    case 'cutover': {
      if (target) throw new UsageError(`${command} takes no arguments`);
      // answered once the cut-over has committed (a refusal, a stop that came first, exits 1)
      const done = await api().post<{ upgrade: string; to: { version: number; release: string }; pauseMs: number }>('/cutover', {}, { upgrade: 'string', to: 'object', pauseMs: 'number' });
      print(json ? JSON.stringify(done) : `upgrade ${done.upgrade.slice(0, 8)} cut over: committed, now v${done.to.version} (${short(done.to.release)}), commands waited ${ms(done.pauseMs)}; the push command prints its report`);
      return 0;
    }
    case 'abort': {
      if (target) throw new UsageError(`${command} takes no arguments`);
      const done = await api().post<{ upgrade: string }>(`/${command}`, {}, { upgrade: 'string' });
      print(json ? JSON.stringify(done) : `aborting upgrade ${done.upgrade.slice(0, 8)}: nothing changes`);
      return 0;
    }
    case 'status': {
      if (target) throw new UsageError(`status takes no arguments\n\n${USAGE}`);
      const status = await api().get<OperatorStatus>('/status', { version: 'number', release: 'string', history: 'array', releases: 'array', circuits: 'array' });
      print(json ? JSON.stringify(status, null, 2) : formatStatus(status));
      return 0;
    }
    case 'build': {
      if (!target) throw new UsageError('build needs a version number or a version folder');
      const release = await buildRelease(target);
      const info = { dir: path.relative(process.cwd(), release.dir) || '.', hash: release.hash, bytes: release.code.length, viewBytes: release.view?.length ?? 0, archived: release.archived, inputs: release.inputs };
      print(json ? JSON.stringify(info, null, 2) : `${info.dir}  ${info.hash}  ${info.bytes} bytes (+${info.viewBytes} view)${info.archived ? `  released: ${info.archived}` : ''}\n${info.inputs.map((i) => `  ${i}`).join('\n')}`);
      return 0;
    }
    case 'new-version': {
      if (target) throw new UsageError('new-version takes no arguments: it starts the version after the newest one');
      try {
        const made = await newVersion(ROOT);
        print(json ? JSON.stringify(made, null, 2) : formatScaffold(made));
        return 0;
      } catch (err) {
        if (err instanceof ScaffoldError) throw new UsageError(err.message);
        throw err;
      }
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

/** `--accept-drops reactions=3,edits=2` (repeatable): the losses the operator accepts, per kind. */
export function parseDrops(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of list.flatMap((s) => s.split(','))) {
    const m = /^([A-Za-z_][\w-]*)=(\d+)$/.exec(part.trim());
    if (!m) throw new UsageError(`--accept-drops takes kind=count pairs (--accept-drops reactions=3,edits=2), not '${part}'`);
    // a kind given twice is a typo or a changed mind: which count was meant is not for molt to guess
    if (Object.hasOwn(out, m[1]!)) throw new UsageError(`--accept-drops names ${m[1]} twice: give each kind once`);
    if (!Number.isSafeInteger(Number(m[2]))) throw new UsageError(`--accept-drops ${m[1]}=${m[2]}: a count is at most ${Number.MAX_SAFE_INTEGER}`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** `--pace 5000` (entities a second) or `--pace 25%` (of one CPU). */
export function parsePace(text: string): { perSecond: number } | { share: number } {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  if (!m) throw new UsageError(`--pace takes entities a second (--pace 5000) or a share of one CPU (--pace 25%), not '${text}'`);
  const n = Number(m[1]);
  if (m[2]) {
    if (n <= 0 || n > 100) throw new UsageError('--pace N% takes a share between 0 and 100');
    return { share: n / 100 };
  }
  if (n <= 0) throw new UsageError('--pace takes a positive number of entities a second');
  return { perSecond: n };
}

/**
 * Run a push or a rollback so that Ctrl-C aborts it: an upgrade whose operator has gone would run on
 * (held, up to its time limit) and hold off every other push with E_BUSY. The first Ctrl-C asks the
 * server to abort and waits for the report (refused, E_ABORTED, nothing changed; past the cut-over it
 * is too late, and the report says committed); a second stops waiting and exits 130 at once: the
 * abort already asked for stands (unless it could not be sent), and `molt status` shows how it ended.
 */
async function interruptible<T>(client: ReturnType<typeof operator>, call: (upgrade: string) => Promise<T>): Promise<T> {
  // The upgrade goes by an id chosen here, and the abort names it: sent before the upgrade's own
  // request reached the server (a Ctrl-C right after Enter, a large release on a slow link), an abort
  // without one found nothing running (E_NOT_HELD) and the push went on and committed; and it stops
  // no other operator's upgrade.
  const upgrade = randomUUID();
  let abort: 'none' | 'asked' | 'failed' = 'none';
  // SIGTERM as Ctrl-C: `timeout 600 molt push 2`, or a service manager stopping the script that ran
  // it, killed molt and left the upgrade running (held: until its time limit, every other push E_BUSY)
  const interrupt = (signal: NodeJS.Signals): void => {
    const status = signal === 'SIGTERM' ? 143 : 130;
    if (abort === 'failed') {
      process.stderr.write('molt: stopped waiting for the report; the abort was not taken (above): `molt status` shows the upgrade if it still runs, `molt abort` stops it\n');
      process.exit(status);
    }
    if (abort === 'asked') {
      process.stderr.write('molt: stopped waiting for the report; the abort asked for stands: `molt status` shows how the upgrade ended\n');
      process.exit(status);
    }
    abort = 'asked';
    process.stderr.write(`\nmolt: aborting the upgrade (${signal === 'SIGTERM' ? 'SIGTERM' : 'Ctrl-C'} again to stop waiting for the report)\n`);
    client.post('/abort', { upgrade }, { upgrade: 'string' }).catch((err: unknown) => {
      abort = 'failed';
      process.stderr.write(`molt: could not abort: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  try {
    return await call(upgrade);
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/**
 * Run an upgrade call while showing its progress on stderr (a terminal only, not with --json): the
 * operator API answers when the upgrade ends, so progress comes from /status meanwhile.
 */
async function watching<T>(client: ReturnType<typeof operator>, json: boolean, call: () => Promise<T>): Promise<T> {
  const tty = process.stderr.isTTY && !json;
  if (!tty) return call();
  let last = '';
  const timer = setInterval(() => {
    client.get<Status>('/status', { version: 'number' }).then(
      (s) => {
        const u = s.upgrade;
        if (!u) return;
        const p = u.progress;
        const pct = p.total > 0 ? ` ${Math.floor((p.done / p.total) * 100)}% (${p.done.toLocaleString('en')} of ${p.total.toLocaleString('en')}${p.rate ? `, ${p.rate.toLocaleString('en')}/s` : ''}${p.etaMs ? `, ${Math.ceil(p.etaMs / 1000)} s left` : ''})` : '';
        const line = u.held ? 'held: migrated and caught up; run `molt cutover` to commit or `molt abort`' : `${u.phase}${u.phase === 'migrate' ? pct : ''}`;
        if (line !== last) {
          last = line;
          process.stderr.write(`\r\x1b[2K  ${line}`);
        }
      },
      () => {},
    );
  }, 500);
  try {
    return await call();
  } finally {
    clearInterval(timer);
    if (last) process.stderr.write('\r\x1b[2K');
  }
}

/**
 * One HTTP request to the operator API, with node:http rather than fetch: fetch refuses ports browsers
 * block (6000, 6667, 10080...), and OPERATOR_PORT may be any of them.
 */
function send(method: string, url: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number | null): Promise<{ status: number; statusText: string; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`not an http(s) URL`);
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(
      target,
      { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // A server that takes the connection and never answers (stopped with SIGSTOP, its process held)
    // kept `molt status` waiting for good
    if (timeoutMs !== null) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s (MOLT_OPERATOR_TIMEOUT_MS): the server took the connection but does not answer; is its process stopped or held?`)));
    req.end(body);
  });
}

/**
 * How long a call waits for its answer, ms: all but a push's and a rollback's, which answer when the
 * upgrade ends (a held one waits for the operator), and say meanwhile what it does on a terminal.
 */
function answerTimeoutMs(): number {
  const text = process.env['MOLT_OPERATOR_TIMEOUT_MS'];
  if (text === undefined || text === '') return 60_000;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`MOLT_OPERATOR_TIMEOUT_MS=${visible(text.slice(0, 40))}: expected a whole number of milliseconds, at least 1`);
  return n;
}

/** The fields an answer of the operator API must have, and their types (`array`, or a typeof). */
type Shape = Record<string, 'string' | 'number' | 'object' | 'array'>;
const isA = (type: Shape[string], value: unknown): boolean => (type === 'array' ? Array.isArray(value) : type === 'object' ? value !== null && typeof value === 'object' : typeof value === type);
/** What an upgrade report needs for molt to print it. */
const REPORT: Shape = { upgrade: 'string', kind: 'string', result: 'string', from: 'object', to: 'object', steps: 'array', census: 'object', dropped: 'object', phases: 'object', skipped: 'array' };

/** A body as JSON, or null when it is not JSON (the status then says what happened). */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function operator(url?: string, token?: string, tokenFile?: string) {
  const base = (url ?? process.env['MOLT_OPERATOR_URL'] ?? 'http://127.0.0.1:8081').replace(/\/$/, '');
  if (token !== undefined && tokenFile !== undefined) throw new UsageError(`--token and --token-file both give the token: give one\n\n${USAGE}`);
  // a flag over a variable: --token-file was ignored while MOLT_TOKEN was set (one exported for another
  // server), and the request refused 401
  let secret = token ?? (tokenFile === undefined ? process.env['MOLT_TOKEN'] : undefined);
  let source = token !== undefined ? '--token' : secret ? 'MOLT_TOKEN' : '';
  if (!secret) {
    // where the server keeps it: the same default and the same variable as the server's
    const given = tokenFile ?? (process.env['MOLT_TOKEN_FILE'] || undefined);
    const file = path.resolve(given ?? DEFAULT_TOKEN_FILE);
    source = `${tokenFile !== undefined ? '--token-file' : given ? 'MOLT_TOKEN_FILE' : 'the token file'} ${file}`;
    if (!existsSync(file))
      throw new UsageError(
        `no operator token: ${file} does not exist${tokenFile ? ' (--token-file)' : given ? ' (MOLT_TOKEN_FILE)' : ''}; pass --token or set MOLT_TOKEN, or point at the server's token file with --token-file FILE or MOLT_TOKEN_FILE (the server writes it at ${DEFAULT_TOKEN_FILE} under the folder it was started from, or at its own MOLT_TOKEN_FILE)`,
      );
    try {
      secret = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`no operator token: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); pass --token, or point --token-file or MOLT_TOKEN_FILE at the server's token file`);
    }
  }
  // a token travels in a header: a line break, a control or a character past Latin-1 in it made the
  // request throw, said as "cannot reach the operator API" of a server that was there all along
  if (/[^\x20-\x7e]/.test(secret))
    throw new UsageError(`the operator token from ${source} holds a line break, a control character or one past ASCII, which no request can carry: the server's token is one line of printable ASCII (pass --token, or point --token-file or MOLT_TOKEN_FILE at the server's token file)`, 'E_UNAUTHORIZED');
  const timeout = answerTimeoutMs();
  const call = async <T>(method: string, route: string, shape: Shape, body?: unknown): Promise<T> => {
    const json = body === undefined ? undefined : JSON.stringify(body);
    // the server would answer 413 and close while this still writes: the call would fail as unreachable
    if (json !== undefined && Buffer.byteLength(json) > OPERATOR_BODY_LIMIT)
      throw new UsageError(`${method} ${route}: the request is ${(Buffer.byteLength(json) / 2 ** 20).toFixed(1)} MiB, and the operator API reads at most ${OPERATOR_BODY_LIMIT / 2 ** 20} MiB (a release's code and view together)`);
    let res: { status: number; statusText: string; text: string };
    try {
      res = await send(method, `${base}${route}`, { authorization: `Bearer ${secret}` }, json, route === '/upgrade' || route === '/rollback' ? null : timeout);
    } catch (err) {
      throw new UsageError(`cannot reach the operator API at ${base}: ${(err as Error).message}`, 'E_UNREACHABLE');
    }
    const data = parsed(res.text) as { error?: { code: string; message: string } } | null;
    const ok = res.status >= 200 && res.status < 300;
    const notOperator = (why: string) =>
      new UsageError(`what answered ${method} ${route} at ${base} is not molt's operator API (${why}): check --url or MOLT_OPERATOR_URL (the server's OPERATOR_PORT, 8081 unless set)`, 'E_UNREACHABLE');
    // The operator API has every route molt calls, and says what went wrong as JSON: a 404 (molt's own
    // feed port, another service), or a failure with no JSON error (a web server's page), came from
    // something else, and was said as E_NOT_FOUND or E_HTTP_404 with no word about --url
    if (res.status === 404) throw notOperator(`${res.status}: it has no ${method} ${route}`);
    const errorBody = typeof data?.error?.code === 'string' && typeof data.error.message === 'string';
    if (!ok && res.status !== 401 && !errorBody && !(res.status === 409 && data && 'result' in data))
      throw notOperator(`${res.status} ${res.statusText}${data === null ? `, not JSON: ${JSON.stringify(res.text.slice(0, 60))}` : ', no error in its answer'}`);
    if (res.status === 401) throw new UsageError(`the operator API refused the token (401), from ${source}: check --token, --token-file, MOLT_TOKEN or MOLT_TOKEN_FILE (a flag comes before a variable)`, 'E_UNAUTHORIZED');
    // 409 with a report is a refused upgrade: a result, not a failure of the call.
    if (res.status === 409 && data?.error && !('result' in data)) throw new Refused(data.error, `${method} ${route}`);
    if (!ok && !(res.status === 409 && data && 'result' in data)) {
      throw new UsageError(`${method} ${route} failed (${res.status}): ${data?.error ? `${data.error.code}: ${data.error.message}` : res.statusText}`, data?.error?.code ?? `E_HTTP_${res.status}`);
    }
    // What answered may not be molt's operator API (--url at another service, a proxy's page): said
    // so, rather than a stack trace from reading what it is not
    const missing = Object.entries(shape).find(([field, type]) => !isA(type, (data as Record<string, unknown> | null)?.[field]));
    if (data === null || typeof data !== 'object' || Array.isArray(data) || missing)
      throw notOperator(data === null ? `not JSON: ${JSON.stringify(res.text.slice(0, 60))}` : `no ${missing?.[0] ?? 'object'} in its answer`);
    return data as T;
  };
  return { get: <T>(route: string, shape: Shape) => call<T>('GET', route, shape), post: <T>(route: string, body: unknown, shape: Shape) => call<T>('POST', route, shape, body) };
}

const short = (hash: string) => hash.slice(0, 12);
const ms = (n: number | undefined) => (n === undefined ? '-' : `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`);
const counts = (c: Record<string, number> | null) =>
  c && Object.keys(c).length ? Object.entries(c).map(([k, n]) => `${k} ${n.toLocaleString('en')}`).join(', ') : 'none';

/**
 * A line as the terminal should show it: what release code wrote (an error's message, a step's
 * describe, a census kind) may hold control characters, and an escape sequence could clear the
 * screen or print a fake "committed" over a refusal. Controls, line breaks and bidirectional overrides
 * are shown as escapes instead.
 */
const visible = (line: string) =>
  line.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** The kinds a report drops more of than `--accept-drops` accepts (the server's rule): a real run would be refused. */
export function notAccepted(r: UpgradeReport, accepted: Record<string, number> = {}): string[] {
  return Object.entries(r.dropped).filter(([kind, n]) => n > 0 && n > (accepted[kind] ?? 0)).map(([kind]) => kind);
}

/** The exit status of a push or rollback: 1 refused, or a dry run whose drops the --accept-drops given do not cover (the real run would be refused). */
const upgradeExit = (r: UpgradeReport, accepted: Record<string, number> | undefined): number =>
  r.result === 'refused' || (r.result === 'dry-run' && notAccepted(r, accepted).length > 0) ? 1 : 0;

export function formatReport(r: UpgradeReport, accepted: Record<string, number> = {}): string {
  const verb = r.kind === 'rollback' ? 'rollback' : 'push';
  const headline =
    r.result === 'committed' ? 'committed' : r.result === 'dry-run' ? 'dry run passed: nothing was changed' : `REFUSED: nothing was changed, still v${r.from.version}`;
  // refused before its release loaded: where it would have gone is not known (`to` repeats `from`)
  const unloaded = r.result === 'refused' && r.failedAt === 'begin';
  const lines = [
    `molt ${verb}: v${r.from.version} -> ${unloaded ? '?' : `v${r.to.version}`}  ${headline}`,
    `  release    ${unloaded ? 'not loaded' : r.to.release}`,
    `  was        ${short(r.from.release)} (v${r.from.version})`,
  ];
  if (r.error) lines.push(`  error      ${r.error.code}: ${r.error.message}`);
  if (unloaded) {
    lines.push(`  time       ${ms(r.totalMs)} in all`);
    return lines.map(visible).join('\n');
  }
  if (r.describe) lines.push(`  for people ${r.describe}`);
  lines.push(`  steps      ${r.steps.length ? r.steps.map((s) => `${s.step}${s.describe ? ` (${s.describe})` : ''}`).join('; ') : 'no migration'}`);
  if (r.migrated > 0) lines.push(`  migrated   ${r.migrated.toLocaleString('en')} entities (${counts(r.census.before)})`);
  else lines.push(`  before     ${counts(r.census.before)}`);
  if (r.census.after) lines.push(`  after      ${counts(r.census.after)}`);
  lines.push(`  ${r.result === 'committed' ? 'dropped   ' : 'would drop'} ${counts(r.dropped)}`);
  const how = r.online
    ? `online: built beside the live state while the feed served${r.rounds ? `, ${r.rounds} catch-up round${r.rounds === 1 ? '' : 's'}` : ''}`
    : 'stop-the-world: a whole-state step runs inside the cut-over';
  lines.push(
    `  how        ${how}`,
    `  pause      ${ms(r.pauseMs)}${r.result === 'committed' ? ` at the cut-over${r.cutoverEntities ? ` (${r.cutoverEntities} entities caught up)` : ''}` : ''}${r.queued ? `, ${r.queued} commands waited` : ''}`,
    `  time       ${ms(r.totalMs)} in all: load ${ms(r.phases.load)} · migrate ${ms(r.phases.migrate)} · validate ${ms(r.phases.validate)} · catch-up ${ms(r.phases.catchUp)} · shadow ${ms(r.phases.shadow)} · cut-over ${ms(r.phases.commit)}`,
    `  memory     peak heap ${r.peakHeapMb} MB here${r.rehearsalPeakHeapMb !== null ? `, ${r.rehearsalPeakHeapMb} MB in the rehearsal` : ''}`,
    ...(r.loopDelayMs ? [`  loop       the feed's event loop ran late by ${ms(r.loopDelayMs.p99)} at p99, ${ms(r.loopDelayMs.max)} at most`] : []),
    ...(r.gc ? [`  gc         V8's collector paused the feed ${r.gc.pauses} time${r.gc.pauses === 1 ? '' : 's'}, ${ms(r.gc.ms)} in all, ${ms(r.gc.longestMs)} at most (${r.gc.full} full collection${r.gc.full === 1 ? '' : 's'})`] : []),
    ...(r.cpuMs ? [`  cpu        ${ms(r.cpuMs.live)} here (with the commands served meanwhile), ${ms(r.cpuMs.rehearsal)} in the rehearsal`] : []),
  );
  // The checks' results come in together (census after, checked): without them the checks were not
  // reached (refused or aborted before), and there is nothing to say about them.
  const replayed = r.kind === 'rollback' && r.steps.length === 1 && r.steps[0]!.step === 'window';
  if (r.checked) lines.push(`  checked    declared changes, entity by entity: ${counts(r.checked)}`);
  else if (r.census.after === null || !r.steps.length) {
    // not reached, or no migration
  } else if (replayed) lines.push('  checked    census only: a rollback by replay runs no migration step to check entity by entity');
  else lines.push('  checked    census only: no step declares the shapes of its states');
  if (r.shadow) {
    const gone = Object.entries(r.shadow.notAccepted);
    lines.push(`  shadow     replayed ${r.shadow.replayed} of the last ${r.shadow.commands} commands through v${r.to.version}: ${r.shadow.differences.length ? `${r.shadow.differences.length} answered differently` : 'nothing it refused or broke'}${gone.length ? `; no longer accepted: ${gone.map(([t, n]) => `${t} (${n})`).join(', ')}` : ''}`);
    for (const d of r.shadow.differences.slice(0, 5)) lines.push(`    ${d}`);
  }
  if (r.casualties?.length) {
    lines.push(`  casualties ${r.dropped['commands'] ?? r.casualties.length} writes v${r.to.version} refused when replayed:`);
    for (const c of r.casualties.slice(0, 5)) lines.push(`    ${c.type} by ${c.user ?? 'nobody'}: ${c.error}`);
  }
  if (r.skipped.length) lines.push(`  skipped    ${r.skipped.join('; ')}`);
  const needed = Object.entries(r.dropped).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(',');
  if (r.error?.code === 'E_DROPS_NOT_ACCEPTED') lines.push(`  to commit  run it again with --accept-drops ${needed}`);
  else if (r.result === 'dry-run' && needed)
    lines.push(notAccepted(r, accepted).length ? `  to commit  the real ${verb} needs --accept-drops ${needed} (without it: refused, E_DROPS_NOT_ACCEPTED)` : `  to commit  the drops are accepted by the --accept-drops given`);
  if (r.sample) {
    lines.push(`  sample     ${r.sample.kind} ${r.sample.id}`, `    before   ${JSON.stringify(r.sample.before)}`, `    after    ${JSON.stringify(r.sample.after)}`);
  }
  return lines.map(visible).join('\n');
}

/** What `GET /status` answers: the kernel's status and the command types set aside for one address. */
type OperatorStatus = Status & { asides?: AddressAside[] };

export function formatStatus(s: OperatorStatus): string {
  const lines = [
    `molt v${s.version}  release ${s.release}`,
    `  uptime     ${(s.uptimeMs / 1000).toFixed(0)} s`,
    `  entities   ${counts(s.census)}`,
    `  clients    ${s.connections} connected, ${s.online} users online`,
    `  events     seq ${s.seq}`,
    ...(s.window
      ? [`  window     open since upgrade ${s.window.upgrade.slice(0, 8)}, ${s.window.writes.toLocaleString('en')} writes: rollback goes back to v${s.window.back.version} through down, or replays these writes through v${s.window.back.version} with --replay or where a step has no down; closes in ${Math.ceil(s.window.closesInMs / 60000)} min or at molt permanent`]
      : ['  window     none: rollback goes through down']),
    ...(s.upgrade
      ? [`  upgrading  ${s.upgrade.kind} v${s.upgrade.from} -> ${s.upgrade.to === null ? '?' : `v${s.upgrade.to}`}${s.upgrade.dryRun ? ' (dry run)' : ''}: ${s.upgrade.held ? 'held, waiting for molt cutover' : s.upgrade.phase}${s.upgrade.progress.total ? `, ${s.upgrade.progress.done.toLocaleString('en')} of ${s.upgrade.progress.total.toLocaleString('en')}${s.upgrade.progress.round ? `, catch-up round ${s.upgrade.progress.round}` : ''}` : ''}, ${(s.upgrade.startedMs / 1000).toFixed(1)} s`]
      : []),
    ...(s.circuits.length
      ? [`  set aside  ${s.circuits.map((c) => `${c.command} (${c.timeouts} timeouts in a row; ${c.retryMs > 0 ? `refused for ${Math.ceil(c.retryMs / 1000)} s more` : 'its next command is tried'})`).join(', ')}`]
      : []),
    ...(s.asides?.length
      ? [`  for one address  ${s.asides.map((a) => `${a.command === '*' ? 'every command' : a.command} from ${a.address} (set aside ${a.times === 1 ? 'once' : `${a.times} times`}; ${a.retryMs > 0 ? `refused for ${Math.ceil(a.retryMs / 1000)} s more` : 'its next timeout sets it aside again'})`).join(', ')}`]
      : []),
    `  releases   ${s.releases.map((r) => `v${r.version} ${short(r.release)}`).join(' -> ')}`,
    '  history',
    ...s.history.map(
      (h) => `    ${h.at}  ${h.kind.padEnd(8)} ${h.from === null ? '' : `v${h.from} -> `}${h.failedAt === 'begin' ? '?  (not loaded)' : `v${h.to}  ${short(h.release)}`}  ${h.result}${h.dryRun && h.result !== 'dry-run' ? ' (dry run)' : ''}  pause ${ms(h.pauseMs)}${h.error ? `  ${h.error}` : ''}`,
    ),
  ];
  return lines.map(visible).join('\n');
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof Refused) {
      if (jsonOut) process.stdout.write(`${JSON.stringify({ error: err.error }, null, 2)}\n`);
      else process.stderr.write(`molt: ${err.message}\n`);
      process.exitCode = 1;
    } else if (err instanceof UsageError || err instanceof BuildError) {
      // --json: stdout is JSON whatever happened (the usage text, for a human, stays on stderr)
      if (jsonOut) process.stdout.write(`${JSON.stringify({ error: { code: err instanceof UsageError ? err.code : 'E_BUILD', message: err.message.split('\n\n')[0] } }, null, 2)}\n`);
      process.stderr.write(`molt: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      if (jsonOut) process.stdout.write(`${JSON.stringify({ error: { code: 'E_INTERNAL', message: String((err as Error)?.message ?? err) } }, null, 2)}\n`);
      process.stderr.write(`molt: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 2;
    }
  },
);
