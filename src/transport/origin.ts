/**
 * Which pages may open /ws. A browser sends the page's origin on every WebSocket handshake, and a page
 * from any site could otherwise talk to molt as the person visiting it. Clients that are not browsers
 * send no Origin header and are always let in: the check protects people's browsers, not the server
 * (a script can send any header it likes).
 *
 * `allowed` holds exact origins (`https://molt.example`), `self` (the origin's host is the Host the
 * request was sent to: the page came from this server) or `*` (any page).
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes('*')) return true;
  const given = origin.toLowerCase();
  if (allowed.includes(given)) return true;
  if (!allowed.includes('self') || !host) return false;
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    return false; // "null" (a sandboxed frame, a file), or garbage
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === host.toLowerCase();
}

/** `MOLT_ORIGINS`: a comma-separated list; each origin without a trailing slash, lowercase. */
export function parseOrigins(text: string): string[] {
  const list = text
    .split(',')
    .map((o) => o.trim().toLowerCase().replace(/\/+$/, ''))
    .filter(Boolean);
  for (const o of list)
    if (o !== 'self' && o !== '*' && o !== 'null' && !/^https?:\/\/[^/\s]+$/.test(o))
      throw new Error(`origin '${o}' is not an origin: write scheme://host[:port], 'self' or '*'`);
  return list;
}
