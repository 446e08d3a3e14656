import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the server keeps the operator token and where the CLI looks for it, under the working directory. */
export const DEFAULT_TOKEN_FILE = '.molt/operator-token';

/** The largest request body the operator API reads (413 past it); the CLI says so before sending more. */
export const OPERATOR_BODY_LIMIT = 32 * 1024 * 1024;

/** Read the operator token from its file, or create one readable only by its owner. */
export function ensureTokenFile(file: string): string {
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 16) return token;
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // base64url, never starting with '-': a token is pasted after flags, where '-' reads as one.
  let token = randomBytes(32).toString('base64url');
  while (token.startsWith('-')) token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}
