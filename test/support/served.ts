import { startServer, type RunningServer, type ServerOptions } from '../../src/server.ts';

/**
 * `served(options, use)`: a server of the test's own, started with `defaults` and `options` over them,
 * closed when `use` is done (whatever it threw).
 */
export function servedWith(defaults: ServerOptions): (options: ServerOptions, use: (server: RunningServer) => Promise<void>) => Promise<void> {
  return async (options, use) => {
    const server = await startServer({ ...defaults, ...options });
    try {
      await use(server);
    } finally {
      await server.close();
    }
  };
}
