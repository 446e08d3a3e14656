import { describe, expect, it } from 'vitest';
import { postPath, profilePath, routeOf, tagPath } from '../../client/src/router.ts';

describe('routes', () => {
  it('reads every address the page has', () => {
    expect(routeOf('/')).toEqual({ name: 'global', path: '/' });
    expect(routeOf('/home/')).toEqual({ name: 'home', path: '/home' });
    expect(routeOf('/notifications')).toEqual({ name: 'notifications', path: '/notifications' });
    expect(routeOf('/tags/Molt')).toEqual({ name: 'tag', path: '/tags/Molt', tag: 'molt' });
    expect(routeOf('/@alice')).toEqual({ name: 'profile', path: '/@alice', handle: 'alice' });
    expect(routeOf('/@alice/p1f')).toEqual({ name: 'post', path: '/@alice/p1f', handle: 'alice', id: 'p1f' });
  });

  it('calls anything else unknown', () => {
    for (const path of ['/@a', '/@alice/x1', '/@alice/p1/more', '/tags', '/admin', '/%E0%A4%A']) expect(routeOf(path).name).toBe('unknown');
  });

  it('writes the addresses it reads', () => {
    expect(routeOf(profilePath('bob'))).toMatchObject({ name: 'profile', handle: 'bob' });
    expect(routeOf(postPath('bob', 'p2'))).toMatchObject({ name: 'post', id: 'p2' });
    expect(routeOf(tagPath('Molt'))).toMatchObject({ name: 'tag', tag: 'molt' });
  });
});
