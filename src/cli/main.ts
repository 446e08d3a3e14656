import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Status, UpgradeReport } from '../kernel/kernel.ts';
import { BuildError, buildRelease } from '../release/build.ts';
import { DEFAULT_TOKEN_FILE } from '../transport/token.ts';

const USAGE = `molt: operate a running molt server

  molt push <version|folder> [--dry-run]   build a release, upgrade the running server to it
  molt rollback [--dry-run]                go back to the previous release through its down migration
  molt status                              running version, release, uptime, entities, clients, history
  molt build <version|folder>              build a release locally and print its hash (no server)

options
  --json               print the result as JSON
  --url URL            operator API (default $MOLT_OPERATOR_URL or http://127.0.0.1:8081)
  --token TOKEN        operator token (default $MOLT_TOKEN, else the token file)
  --token-file FILE    (default ${DEFAULT_TOKEN_FILE})

exit status: 0 committed (or a dry run that would commit), 1 refused, 2 bad usage or no server`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      url: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, target, ...extra] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const json = values.json;
  const dryRun = values['dry-run'];
  const api = () => operator(values.url, values.token, values['token-file']);

  switch (command) {
    case 'push': {
      if (!target) throw new UsageError('push needs a version number or a version folder: molt push 2');
      const release = await buildRelease(target);
      const report = await api().post<UpgradeReport>('/upgrade', { release: { code: release.code, view: release.view, hash: release.hash }, dryRun });
      print(json ? JSON.stringify(report, null, 2) : formatReport(report));
      return report.result === 'refused' ? 1 : 0;
    }
    case 'rollback': {
      if (target) throw new UsageError('rollback takes no version: it returns to the release that ran before');
      const report = await api().post<UpgradeReport>('/rollback', { dryRun });
      print(json ? JSON.stringify(report, null, 2) : formatReport(report));
      return report.result === 'refused' ? 1 : 0;
    }
    case 'status': {
      const status = await api().get<Status>('/status');
      print(json ? JSON.stringify(status, null, 2) : formatStatus(status));
      return 0;
    }
    case 'build': {
      if (!target) throw new UsageError('build needs a version number or a version folder');
      const release = await buildRelease(target);
      const info = { dir: path.relative(process.cwd(), release.dir) || '.', hash: release.hash, bytes: release.code.length, viewBytes: release.view?.length ?? 0, inputs: release.inputs };
      print(json ? JSON.stringify(info, null, 2) : `${info.dir}  ${info.hash}  ${info.bytes} bytes (+${info.viewBytes} view)\n${info.inputs.map((i) => `  ${i}`).join('\n')}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

function operator(url?: string, token?: string, tokenFile?: string) {
  const base = (url ?? process.env['MOLT_OPERATOR_URL'] ?? 'http://127.0.0.1:8081').replace(/\/$/, '');
  let secret = token ?? process.env['MOLT_TOKEN'];
  if (!secret) {
    const file = path.resolve(tokenFile ?? DEFAULT_TOKEN_FILE);
    if (!existsSync(file)) throw new UsageError(`no operator token: pass --token, set MOLT_TOKEN, or run from the folder where the server wrote ${DEFAULT_TOKEN_FILE}`);
    secret = readFileSync(file, 'utf8').trim();
  }
  const call = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${base}${route}`, {
        method,
        headers: { authorization: `Bearer ${secret}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new UsageError(`cannot reach the operator API at ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    const data = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
    if (res.status === 401) throw new UsageError('the operator API refused the token (401): check --token, MOLT_TOKEN or the token file');
    // 409 with a report is a refused upgrade: a result, not a failure of the call.
    if (!res.ok && !(res.status === 409 && data && 'result' in data)) {
      throw new UsageError(`${method} ${route} failed (${res.status}): ${data?.error ? `${data.error.code}: ${data.error.message}` : res.statusText}`);
    }
    return data as T;
  };
  return { get: <T>(route: string) => call<T>('GET', route), post: <T>(route: string, body: unknown) => call<T>('POST', route, body) };
}

const short = (hash: string) => hash.slice(0, 12);
const ms = (n: number | undefined) => (n === undefined ? '-' : `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`);
const counts = (c: Record<string, number> | null) =>
  c && Object.keys(c).length ? Object.entries(c).map(([k, n]) => `${k} ${n.toLocaleString('en')}`).join(', ') : 'none';

export function formatReport(r: UpgradeReport): string {
  const verb = r.kind === 'rollback' ? 'rollback' : 'push';
  const headline =
    r.result === 'committed' ? 'committed' : r.result === 'dry-run' ? 'dry run passed: nothing was changed' : `REFUSED: nothing was changed, still v${r.from.version}`;
  const lines = [
    `molt ${verb}: v${r.from.version} -> v${r.to.version}  ${headline}`,
    `  release    ${r.to.release}`,
    `  was        ${short(r.from.release)} (v${r.from.version})`,
  ];
  if (r.error) lines.push(`  error      ${r.error.code}: ${r.error.message}`);
  lines.push(
    `  steps      ${r.steps.length ? r.steps.map((s) => `${s.step}${s.describe ? ` (${s.describe})` : ''}`).join('; ') : 'no migration'}`,
    `  migrated   ${r.migrated.toLocaleString('en')} entities (${counts(r.census.before)})`,
  );
  if (r.census.after) lines.push(`  after      ${counts(r.census.after)}`);
  lines.push(
    `  dropped    ${counts(r.dropped)}`,
    `  pause      ${ms(r.pauseMs)}${r.queued ? ` (${r.queued} commands waited)` : ''}`,
    `  phases     load ${ms(r.phases.load)} · migrate ${ms(r.phases.migrate)} · validate ${ms(r.phases.validate)} · commit ${ms(r.phases.commit)}`,
  );
  if (r.sample) {
    lines.push(`  sample     ${r.sample.kind} ${r.sample.id}`, `    before   ${JSON.stringify(r.sample.before)}`, `    after    ${JSON.stringify(r.sample.after)}`);
  }
  return lines.join('\n');
}

export function formatStatus(s: Status): string {
  const lines = [
    `molt v${s.version}  release ${s.release}`,
    `  uptime     ${(s.uptimeMs / 1000).toFixed(0)} s`,
    `  entities   ${counts(s.census)}`,
    `  clients    ${s.connections} connected, ${s.online} users online`,
    `  events     seq ${s.seq}${s.upgrading ? '  (upgrade in progress)' : ''}`,
    `  releases   ${s.releases.map((r) => `v${r.version} ${short(r.release)}`).join(' -> ')}`,
    '  history',
    ...s.history.map(
      (h) => `    ${h.at}  ${h.kind.padEnd(8)} ${h.from === null ? '' : `v${h.from} -> `}v${h.to}  ${short(h.release)}  ${h.result}${h.dryRun && h.result !== 'dry-run' ? ' (dry run)' : ''}  pause ${ms(h.pauseMs)}${h.error ? `  ${h.error}` : ''}`,
    ),
  ];
  return lines.join('\n');
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof BuildError) {
      process.stderr.write(`molt: ${err.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`molt: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 2;
    }
  },
);
