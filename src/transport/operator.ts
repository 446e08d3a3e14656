import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { MoltError } from '../kernel/errors.ts';
import type { Kernel, UpgradeOptions } from '../kernel/kernel.ts';
import type { AddressAside } from './aside.ts';
import { hostRequired, notFound, safeHeaders, unreadable } from './http.ts';
import { OPERATOR_BODY_LIMIT } from './token.ts';

/**
 * The operator API: its own listener (127.0.0.1 by default), every route behind a bearer token
 * compared in constant time. Without the right token: 401 and nothing runs.
 *
 *   GET  /status                      -> Status (with the upgrade in progress, if any), and the command
 *                                        types set aside for one address (`asides`)
 *   POST /upgrade  {release: {code, view, hash}, dryRun?, hold?, pace?, expect?, upgrade?}  -> UpgradeReport (409 if refused)
 *   POST /rollback {dryRun?, hold?, pace?, expect?, upgrade?}                            -> UpgradeReport (409 if refused)
 *   POST /cutover                     -> {upgrade, result, to, pauseMs} once a held upgrade has cut over and
 *                                        committed; 409 E_NOT_HELD, or the refusal that ended it instead
 *   POST /abort    {upgrade?}         -> {upgrade}: the running upgrade (or only the one of that id, even
 *                                        before its request arrives) stops before its cut-over
 *   POST /permanent                   -> {upgrade}: the last upgrade's reversible window closes
 *
 * pace is {perSecond: n} (entities per second) or {share: 0..1} (of one CPU); expect is the release hash
 * the operator means to replace (E_CONFLICT when another runs).
 */
/** Refusals that are about what else is going on, not about the request: HTTP 409. */
const CONFLICTS = new Set(['E_BUSY', 'E_CONFLICT', 'E_NOT_HELD', 'E_SHUTTING_DOWN']);

type Options = { dryRun?: unknown; hold?: unknown; pace?: unknown; expect?: unknown; force?: unknown; acceptDrops?: unknown; replay?: unknown; upgrade?: unknown };

/** An upgrade's id as a caller may choose it (a UUID, as the server's own are). */
const UPGRADE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function upgradeId(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !UPGRADE_ID.test(value)) throw new MoltError('E_BAD_REQUEST', 'upgrade must be a UUID in lower case (the id this upgrade goes by)');
  return value;
}

/** The fields each route reads: any other is refused, never ignored ({"dry_run": true} committed). */
const OPTION_FIELDS = ['dryRun', 'hold', 'pace', 'expect', 'force', 'acceptDrops', 'replay', 'upgrade'];
const FIELDS: Record<string, readonly string[]> = {
  // replay is a rollback's (PROTOCOL.md): on a push it was refused E_NO_PREVIOUS, 'no reversible window is open'
  '/upgrade': ['release', ...OPTION_FIELDS.filter((f) => f !== 'replay')],
  '/rollback': OPTION_FIELDS,
  '/abort': ['upgrade'],
  '/cutover': [],
  '/permanent': [],
};

/**
 * A body a route reads, checked for what the route does not know: a misspelt flag (dry_run, dryrun,
 * accept_drops) read as left out would run the real thing, as a flag that is not a boolean once did.
 */
function known(route: string, body: unknown): void {
  // none sent is none; a JSON null is a body, and not an object: it ran a rollback as {} did
  if (body === undefined) return;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new MoltError('E_BAD_REQUEST', `the body of POST ${route} must be a JSON object`);
  const fields = FIELDS[route]!;
  const unknown = Object.keys(body).filter((k) => !fields.includes(k));
  if (unknown.length)
    throw new MoltError('E_BAD_REQUEST', `POST ${route} takes ${fields.length ? `only ${fields.join(', ')}` : 'no fields'}, not ${unknown.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}; nothing was done`);
  const release = (body as { release?: unknown }).release;
  if (route === '/upgrade' && release !== null && typeof release === 'object' && !Array.isArray(release)) {
    const extra = Object.keys(release).filter((k) => !['code', 'view', 'hash'].includes(k));
    if (extra.length) throw new MoltError('E_BAD_REQUEST', `a release is {code, view?, hash?}, not ${extra.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}; nothing was done`);
  }
}

/** The operator's options for a push or rollback, checked. */
function options(body: Options | null | undefined): UpgradeOptions {
  if (body !== null && body !== undefined && (typeof body !== 'object' || Array.isArray(body))) throw new MoltError('E_BAD_REQUEST', 'the body must be a JSON object of options');
  // a flag that is not a boolean is refused, never read as false: {"dryRun": "yes"} must not commit
  for (const flag of ['dryRun', 'hold', 'force', 'replay'] as const)
    if (body?.[flag] !== undefined && typeof body[flag] !== 'boolean') throw new MoltError('E_BAD_REQUEST', `${flag} must be true or false, not ${JSON.stringify(body[flag])?.slice(0, 40) ?? typeof body[flag]}`);
  const out: UpgradeOptions = { dryRun: body?.dryRun === true, hold: body?.hold === true, force: body?.force === true, replay: body?.replay === true };
  // as molt refuses --dry-run --hold: a dry run ends before the cut-over, and would never wait for /cutover
  if (out.dryRun && out.hold) throw new MoltError('E_BAD_REQUEST', 'dryRun and hold do not go together: a dry run ends before the cut-over, so it never waits for one');
  // one of the two, alone: {perSecond: -1, share: 0.5} ran at a share, {perSecond: 10, share: 0.5} at
  // 10 a second, and null as no pace, each saying nothing of what it left out
  const pace = body?.pace as { perSecond?: unknown; share?: unknown } | undefined | null;
  if (pace !== undefined) {
    const only = (key: string) => typeof pace === 'object' && pace !== null && !Array.isArray(pace) && Object.keys(pace).length === 1 && Object.hasOwn(pace, key);
    if (only('perSecond') && typeof pace!.perSecond === 'number' && pace!.perSecond > 0 && Number.isFinite(pace!.perSecond)) out.pace = { perSecond: pace!.perSecond };
    else if (only('share') && typeof pace!.share === 'number' && pace!.share > 0 && pace!.share <= 1) out.pace = { share: pace!.share };
    else throw new MoltError('E_BAD_REQUEST', 'pace must be {perSecond: n > 0} or {share: 0 < n <= 1}, one of the two');
  }
  if (body?.acceptDrops !== undefined) {
    const a = body.acceptDrops as Record<string, unknown>;
    if (typeof a !== 'object' || a === null || Array.isArray(a) || !Object.values(a).every((n) => Number.isSafeInteger(n) && (n as number) >= 0))
      throw new MoltError('E_BAD_REQUEST', 'acceptDrops must be {kind: count}');
    out.acceptDrops = { ...(a as Record<string, number>) };
  }
  const id = upgradeId(body?.upgrade);
  if (id !== undefined) out.id = id;
  if (body?.expect !== undefined) {
    if (typeof body.expect !== 'string' || !/^[0-9a-f]{64}$/.test(body.expect)) throw new MoltError('E_BAD_REQUEST', 'expect must be the hash of the release you mean to replace');
    out.expect = body.expect;
  }
  return out;
}

/** What the transport adds to the operator's status: command types set aside for one address. */
export interface TransportStatus {
  asides(): AddressAside[];
}

export function createOperatorApi(kernel: Kernel, token: string, log?: FastifyBaseLogger, transport?: TransportStatus): FastifyInstance {
  const bodyLimit = OPERATOR_BODY_LIMIT;
  const app: FastifyInstance = log ? Fastify({ loggerInstance: log, bodyLimit, logController: new LogController({ disableRequestLogging: true }), ...unreadable() }) : Fastify({ logger: false, bodyLimit, ...unreadable() });
  const expected = createHash('sha256').update(token).digest();

  // JSON only: fastify would read a text/plain body as a string, and a route that takes no body would
  // run on it (PROTOCOL: a body sent without Content-Type: application/json is refused, 400)
  app.removeContentTypeParser('text/plain');

  hostRequired(app);
  // the public listener's headers on every answer here too: its 400 for a request it cannot read had
  // them (PROTOCOL: in the shape and with the headers of every other error), its 401 and 404 did not
  safeHeaders(app);
  app.addHook('onRequest', async (req, reply) => {
    // The scheme is case-insensitive (RFC 9110 11.1): "Bearer", "bearer" and "BEARER" are the same.
    const scheme = /^bearer +(.*)$/i.exec(req.headers.authorization ?? '');
    const given = createHash('sha256').update(scheme ? scheme[1]!.trim() : '').digest();
    if (!timingSafeEqual(given, expected)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: { code: 'E_UNAUTHORIZED', message: 'missing or wrong operator token' } });
    }
  });

  app.setErrorHandler(async (err, req, reply) => {
    if (err instanceof MoltError) return reply.code(CONFLICTS.has(err.code) ? 409 : err.code === 'E_INTERNAL' ? 500 : 400).send({ error: err.toJSON() });
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    // a body that is not JSON (fastify says 415) cannot be read: 400, and what to send instead
    if (status === 415) return reply.code(400).send({ error: { code: 'E_BAD_REQUEST', message: `the body must be JSON, sent with Content-Type: application/json (got ${JSON.stringify(String(req.headers['content-type'] ?? 'none').slice(0, 80))})` } });
    return reply.code(status).send({ error: { code: status < 500 ? 'E_BAD_REQUEST' : 'E_INTERNAL', message: (err as Error).message } });
  });

  // before any route runs: a body with a field the route does not read is refused
  app.addHook('preHandler', async (req) => {
    const route = req.routeOptions.url;
    if (req.method === 'POST' && route !== undefined && Object.hasOwn(FIELDS, route)) known(route, req.body);
  });

  app.setNotFoundHandler(notFound(': the operator API has GET /status and POST /upgrade, /rollback, /cutover, /abort, /permanent'));

  app.get('/status', async () => ({ ...kernel.status(), asides: transport?.asides() ?? [] }));

  app.post('/upgrade', async (req, reply) => {
    const body = req.body as ({ release?: { code?: unknown; view?: unknown; hash?: unknown } } & Options) | null;
    const rel = body?.release;
    if (!rel || typeof rel.code !== 'string' || !(rel.view === null || rel.view === undefined || typeof rel.view === 'string') || (rel.hash !== undefined && typeof rel.hash !== 'string'))
      throw new MoltError('E_BAD_REQUEST', 'POST /upgrade needs {release: {code: string, view: string|null, hash?: string}, dryRun?: boolean}');
    const report = await kernel.upgrade(
      { code: rel.code, view: (rel.view as string | null | undefined) ?? null, ...(rel.hash !== undefined ? { hash: rel.hash as string } : {}) },
      options(body),
    );
    return reply.code(report.result === 'refused' ? 409 : 200).send(report);
  });

  app.post('/rollback', async (req, reply) => {
    const report = await kernel.rollback(options((req.body ?? {}) as Options));
    return reply.code(report.result === 'refused' ? 409 : 200).send(report);
  });

  // Answered when the cut-over ends, with how it ended: until its commit it can still be refused (a
  // stop in the same turn aborts it, E_SHUTTING_DOWN), and a 200 sent as it began told the operator
  // of a cut-over that never happened.
  app.post('/cutover', async (_req, reply) => {
    const report = await kernel.cutoverAndWait();
    if (report.result === 'committed') return { upgrade: report.upgrade, result: report.result, to: report.to, pauseMs: report.pauseMs };
    const error = report.error ?? { code: 'E_INTERNAL', message: 'the upgrade ended without committing, and without saying why' };
    return reply.code(409).send({ upgrade: report.upgrade, error: { code: error.code, message: `the cut-over did not happen: ${error.message}` } });
  });
  // (the body is an object of known fields by now: the preHandler above)
  app.post('/abort', async (req) => kernel.abort(upgradeId((req.body as { upgrade?: unknown } | null | undefined)?.upgrade)));
  app.post('/permanent', async () => kernel.permanent());

  return app;
}
