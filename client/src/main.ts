/** The browser entry: one App on one socket at /ws. */
import { App } from './app.ts';

const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
new App(`${scheme}://${location.host}/ws`).start();
