import * as v1 from '../../src/feed/v1/index.ts';
import * as v2 from '../../src/feed/v2/index.ts';
import * as v3 from '../../src/feed/v3/index.ts';
import { contractSuite } from './contract.case.ts';

const like = { on: (post: string) => ({ type: 'like', post }), off: (post: string) => ({ type: 'unlike', post }) };
const react = { on: (post: string) => ({ type: 'react', post, emoji: '🎉' }), off: (post: string) => ({ type: 'unreact', post, emoji: '🎉' }) };

contractSuite({ feed: v1, kinds: ['users', 'posts', 'likes'], mark: { counter: 'likes', ...like } });
contractSuite({ feed: v2, kinds: ['users', 'posts', 'reactions'], mark: { counter: 'reactions', ...react } });
contractSuite({ feed: v3, kinds: ['users', 'posts', 'reactions', 'follows', 'notifications', 'edits'], mark: { counter: 'reactions', ...react } });
