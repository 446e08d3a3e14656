import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server.ts';
import { ensureTokenFile } from '../../src/transport/token.ts';

describe('operator token file', () => {
  it('is created at first start, readable only by its owner, and reused after', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'molt-token-'));
    const file = path.join(dir, '.molt', 'operator-token');
    const prev = process.env['MOLT_TOKEN'];
    delete process.env['MOLT_TOKEN'];
    try {
      const server = await startServer({ port: 0, operatorPort: 0, tokenFile: file, logLevel: 'silent' });
      await server.close();
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8').trim()).toBe(server.token);
      expect(server.token.length).toBeGreaterThanOrEqual(32);
      expect(ensureTokenFile(file)).toBe(server.token);
      const res = await (async () => {
        const again = await startServer({ port: 0, operatorPort: 0, tokenFile: file, logLevel: 'silent' });
        try {
          return await fetch(`${again.operatorUrl}/status`, { headers: { authorization: `Bearer ${server.token}` } });
        } finally {
          await again.close();
        }
      })();
      expect(res.status).toBe(200);
    } finally {
      if (prev !== undefined) process.env['MOLT_TOKEN'] = prev;
    }
  });

  it('binds the operator API to 127.0.0.1 by default', async () => {
    const server = await startServer({ port: 0, operatorPort: 0, token: 'bind-test-token-0123456789', logLevel: 'silent' });
    try {
      expect(new URL(server.operatorUrl).hostname).toBe('127.0.0.1');
    } finally {
      await server.close();
    }
  });
});
