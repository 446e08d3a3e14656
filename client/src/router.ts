/**
 * The page's addresses. The shell owns routing (it survives upgrades); each version decides which
 * routes it has a page for. Pure: a path in, a Route out, and back.
 *
 *   /                 global      everyone's posts
 *   /home             home        people I follow
 *   /notifications    notifications
 *   /tags/<tag>       tag
 *   /@<handle>        profile
 *   /@<handle>/<id>   post        a post and its whole thread
 */
import type { Route } from './view-contract.ts';

const HANDLE = /^[A-Za-z0-9_]{3,20}$/;

export function routeOf(pathname: string): Route {
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/index.html') return { name: 'global', path: '/' };
  if (path === '/home') return { name: 'home', path };
  if (path === '/notifications') return { name: 'notifications', path };
  const parts = path.split('/').slice(1).map(safeDecode);
  if (parts[0] === 'tags' && parts.length === 2 && parts[1]) return { name: 'tag', path, tag: parts[1].toLowerCase() };
  if (parts[0]?.startsWith('@') && HANDLE.test(parts[0].slice(1))) {
    const handle = parts[0].slice(1);
    if (parts.length === 1) return { name: 'profile', path, handle };
    if (parts.length === 2 && /^p[0-9a-z]+$/.test(parts[1]!)) return { name: 'post', path, handle, id: parts[1]! };
  }
  return { name: 'unknown', path };
}

export function profilePath(handle: string): string {
  return `/@${handle}`;
}

export function postPath(handle: string, id: string): string {
  return `/@${handle}/${id}`;
}

export function tagPath(tag: string): string {
  return `/tags/${encodeURIComponent(tag.toLowerCase())}`;
}

/** What a route is called when a version has no page for it. */
export function routeNoun(route: Route): string {
  switch (route.name) {
    case 'home':
      return 'The Following timeline';
    case 'notifications':
      return 'Notifications';
    case 'tag':
      return 'Tag pages';
    case 'profile':
      return 'Profile pages';
    case 'post':
      return 'Thread pages';
    default:
      return 'That page';
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
