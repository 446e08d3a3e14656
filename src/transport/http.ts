import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Kernel } from '../kernel/kernel.ts';

export type StaticFiles = Map<string, { type: string; body: Buffer | string }>;

/**
 * The public HTTP side: the browser client, each release's view module, health and metrics. The
 * WebSocket at /ws is attached to the same server by src/server.ts.
 */
export function createPublicHttp(kernel: Kernel, files: StaticFiles, metrics: Registry, log?: FastifyBaseLogger): FastifyInstance {
  const app: FastifyInstance = log ? Fastify({ loggerInstance: log, logController: new LogController({ disableRequestLogging: true }) }) : Fastify({ logger: false });

  for (const [url, file] of files) {
    app.get(url, async (_req, reply) => reply.type(file.type).header('cache-control', 'no-cache').send(file.body));
  }

  // A release's browser view, by hash: immutable, so cache it for good.
  app.get<{ Params: { hash: string } }>('/views/:hash', async (req, reply) => {
    const hash = req.params.hash.replace(/\.js$/, '');
    const view = /^[0-9a-f]{64}$/.test(hash) ? kernel.view(hash) : null;
    if (view === null) return reply.code(404).send({ error: { code: 'E_NOT_FOUND', message: 'no installed release has that view' } });
    return reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=31536000, immutable').send(view);
  });

  // Cheap on purpose: no census (that walks the state); status on the operator API has it.
  app.get('/health', async () => ({
    ok: true,
    version: kernel.version,
    release: kernel.release,
    uptimeMs: Math.round(process.uptime() * 1000),
    upgrading: kernel.upgrading,
    connections: kernel.connections,
  }));

  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));

  return app;
}
