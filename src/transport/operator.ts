import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { MoltError } from '../kernel/errors.ts';
import type { Kernel } from '../kernel/kernel.ts';

/**
 * The operator API: its own listener (127.0.0.1 by default), every route behind a bearer token
 * compared in constant time. Without the right token: 401 and nothing runs.
 *
 *   GET  /status                      -> Status
 *   POST /upgrade  {release: {code, view, hash}, dryRun?}  -> UpgradeReport (409 if refused)
 *   POST /rollback {dryRun?}          -> UpgradeReport (409 if refused)
 */
export function createOperatorApi(kernel: Kernel, token: string, log?: FastifyBaseLogger): FastifyInstance {
  const bodyLimit = 32 * 1024 * 1024;
  const app: FastifyInstance = log ? Fastify({ loggerInstance: log, bodyLimit, logController: new LogController({ disableRequestLogging: true }) }) : Fastify({ logger: false, bodyLimit });
  const expected = createHash('sha256').update(token).digest();

  app.addHook('onRequest', async (req, reply) => {
    const header = req.headers.authorization ?? '';
    const given = createHash('sha256').update(header.startsWith('Bearer ') ? header.slice(7) : '').digest();
    if (!timingSafeEqual(given, expected)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: { code: 'E_UNAUTHORIZED', message: 'missing or wrong operator token' } });
    }
  });

  app.setErrorHandler(async (err, _req, reply) => {
    if (err instanceof MoltError) return reply.code(err.code === 'E_BUSY' ? 409 : 400).send({ error: err.toJSON() });
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    return reply.code(status).send({ error: { code: status < 500 ? 'E_BAD_REQUEST' : 'E_INTERNAL', message: (err as Error).message } });
  });

  app.get('/status', async () => kernel.status());

  app.post('/upgrade', async (req, reply) => {
    const body = req.body as { release?: { code?: unknown; view?: unknown; hash?: unknown }; dryRun?: unknown } | null;
    const rel = body?.release;
    if (!rel || typeof rel.code !== 'string' || !(rel.view === null || rel.view === undefined || typeof rel.view === 'string') || (rel.hash !== undefined && typeof rel.hash !== 'string'))
      throw new MoltError('E_BAD_REQUEST', 'POST /upgrade needs {release: {code: string, view: string|null, hash?: string}, dryRun?: boolean}');
    const report = await kernel.upgrade(
      { code: rel.code, view: (rel.view as string | null | undefined) ?? null, ...(rel.hash ? { hash: rel.hash as string } : {}) },
      { dryRun: body?.dryRun === true },
    );
    return reply.code(report.result === 'refused' ? 409 : 200).send(report);
  });

  app.post('/rollback', async (req, reply) => {
    const body = (req.body ?? {}) as { dryRun?: unknown };
    const report = await kernel.rollback({ dryRun: body.dryRun === true });
    return reply.code(report.result === 'refused' ? 409 : 200).send(report);
  });

  return app;
}
