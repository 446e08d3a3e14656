import { createHash } from 'node:crypto';
import type { FeedVersion, Migration } from '../contract.ts';
import { checkChain } from './chain.ts';
import { MoltError, die } from './errors.ts';
import { checkExports } from './guard.ts';
import { TimeoutError, describeThrown, evaluate, type Sandbox } from './sandbox.ts';

/** A release as it travels: bundled server code, optional browser view code, and their hash. */
export interface ReleaseSource {
  readonly code: string;
  readonly view: string | null;
  /** When given, must equal releaseHash(code, view): the operator sees what runs. */
  readonly hash?: string;
}

/** A release evaluated in its own sandbox, exports checked, chain checked. */
export interface LoadedRelease {
  readonly version: number;
  readonly hash: string;
  readonly source: ReleaseSource;
  readonly feed: FeedVersion;
  readonly migrations: readonly Migration[];
  readonly sandbox: Sandbox;
}

/** SHA-256 over the server code and the view code: the release's identity. */
export function releaseHash(code: string, view: string | null): string {
  return createHash('sha256').update(code).update('\0').update(view ?? '').digest('hex');
}

/** Load a release: everything here can fail, and nothing here touches the running system. */
export function loadRelease(source: ReleaseSource, loadTimeoutMs: number): LoadedRelease {
  if (typeof source?.code !== 'string' || (source.view !== null && typeof source.view !== 'string'))
    die('E_BAD_REQUEST', 'a release needs code (string) and view (string or null)');
  const hash = releaseHash(source.code, source.view);
  if (source.hash !== undefined && source.hash !== hash)
    die('E_RELEASE_HASH', `release hash ${String(source.hash).slice(0, 12)} does not match its content (${hash.slice(0, 12)})`);
  let sandbox: Sandbox;
  try {
    sandbox = evaluate(source.code, `release-${hash.slice(0, 12)}.js`, loadTimeoutMs);
  } catch (err) {
    die('E_RELEASE_LOAD', `release ${hash.slice(0, 12)} failed to load: ${describeThrown(err)}`);
  }
  // Reading the exports may run release code (a getter): bounded like the top level that made them.
  // What comes back is the kernel's own copy, plain data read once, so nothing after reads the release.
  let exported: ReturnType<typeof checkExports>;
  try {
    exported = sandbox.run(() => checkExports(sandbox.exports), loadTimeoutMs);
  } catch (err) {
    if (err instanceof MoltError) throw err;
    die('E_RELEASE_EXPORTS', `release ${hash.slice(0, 12)}: reading its exports ${err instanceof TimeoutError ? `${err.message} (a getter that does not return?)` : `threw: ${describeThrown(err)}`}`);
  }
  const { feed, migrations } = exported;
  try {
    checkChain(migrations, feed.version);
  } catch (err) {
    if (err instanceof MoltError) throw new MoltError(err.code, `release v${feed.version}: ${err.message}`);
    throw err;
  }
  return { version: feed.version, hash, source, feed, migrations, sandbox };
}
