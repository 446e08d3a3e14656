/**
 * The view probe's Web Worker (served at /view-probe.js): it puts the DOM stand-in in place, then
 * imports the view module it is sent and runs it on the samples (probe.ts), reporting each step.
 * The page terminates it when a step runs past its limit: that is the whole point of running a
 * release's view here first, where a loop can be stopped.
 */
import { installDom } from './dom-standin.ts';
import { probe, type ProbeInput, type ProbeMessage } from './probe.ts';

// the worker's own, before the stand-in puts the window's in their place
const listen = self.addEventListener.bind(self);
const origin = self.location.origin;
const post = (m: unknown): void => (self as unknown as { postMessage(m: unknown): void }).postMessage(m);
installDom(self as unknown as Record<string, unknown>);

listen(
  'message',
  (ev: Event) => {
    const input = (ev as MessageEvent<ProbeInput>).data;
    void probe(() => import(/* @vite-ignore */ new URL(input.url, origin).href), input, (m: ProbeMessage) => post(m));
  },
  { once: true },
);
post({ t: 'ready' });
