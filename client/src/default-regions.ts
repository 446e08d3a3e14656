/**
 * The regions the shell gives a card-only view (v1, v2: a view without `regions`): one global
 * timeline of its cards, replies inline. Any other route has no page on such a version.
 */
import { Timeline } from './timeline.ts';
import type { FeedView, RegionApi, Regions } from './view-contract.ts';

export function defaultRegions(view: FeedView, api: RegionApi): Regions {
  return {
    nav: null,
    page(route, had) {
      if (route.name !== 'global') return null;
      const timeline = new Timeline({
        api,
        view,
        load: (before) => api.request('timeline', { limit: 20, ...(before === null ? {} : { before }) }),
        label: 'Posts',
        empty: { title: 'No posts yet', hint: api.me ? 'Say hello: the first post sets the tone.' : 'Join to write the first post.' },
        had,
      });
      return {
        el: timeline.el,
        title: 'Everyone',
        compose: true,
        ready: timeline.ready,
        event: (e) => timeline.event(e),
        state: () => timeline.state(),
        dispose: () => timeline.dispose(),
      };
    },
    event() {},
    dispose() {},
  };
}
