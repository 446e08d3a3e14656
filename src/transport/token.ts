import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the server keeps the operator token and where the CLI looks for it, under the working directory. */
export const DEFAULT_TOKEN_FILE = '.molt/operator-token';

/** The largest request body the operator API reads (413 past it); the CLI says so before sending more. */
export const OPERATOR_BODY_LIMIT = 32 * 1024 * 1024;

/**
 * Whether a request can carry `token` and the server will match it: at least 16 characters of
 * printable ASCII, no spaces (an HTTP header drops a space at either end, and cannot hold a line
 * break or a character past ASCII). MOLT_TOKEN and the token file are held to it alike.
 */
export function usableToken(token: string): boolean {
  return token.length >= 16 && /^[\x21-\x7e]+$/.test(token);
}

/** A token file the server cannot use: a setting to change, not a fault (`npm start` exits 2 naming it). */
export class TokenFileError extends Error {}

/**
 * Read the operator token from its file, or create one readable only by its owner (where there is
 * none, or an empty one). A token the operator wrote there that no request can carry is refused, never
 * replaced: a short one was overwritten with a new token without a word, and one with a line break in
 * it became a token that every request failed to match.
 */
export function ensureTokenFile(file: string): string {
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (usableToken(token)) return token;
    if (token !== '')
      throw new TokenFileError(
        `the operator token in ${file} is ${token.length < 16 ? `${token.length} characters` : 'more than one line, or holds spaces, controls or characters past ASCII'}: a token is one line of at least 16 characters of printable ASCII, with no spaces (it is sent in an HTTP header). Write one, or delete the file and the server makes one`,
      );
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // base64url, never starting with '-': a token is pasted after flags, where '-' reads as one.
  let token = randomBytes(32).toString('base64url');
  while (token.startsWith('-')) token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}
