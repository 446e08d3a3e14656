/**
 * A minimal DOM stand-in for the view probe (view-probe.ts): enough of `document`, elements, text,
 * classList, dataset, style, selectors and the observers for a view to build its cards and pages in a
 * Web Worker, where there is no DOM. No layout (every box is 0 by 0 at 0,0), no HTML parsing
 * (`innerHTML` sets text), no events fired by the stand-in itself.
 *
 * It exists so a view's code can be *run* where it can be stopped; it does not judge what the code
 * builds. A view that needs something missing here throws in the probe, and the probe counts that
 * as inconclusive, never as a failure (the page's own try/catch judges throws).
 */

type Listener = (ev: unknown) => void;

export class StandinNode {
  parentNode: StandinElement | null = null;
  readonly childNodes: StandinNode[] = [];
  readonly nodeType: number = 1;
  get parentElement(): StandinElement | null {
    return this.parentNode;
  }
  get firstChild(): StandinNode | null {
    return this.childNodes[0] ?? null;
  }
  get lastChild(): StandinNode | null {
    return this.childNodes[this.childNodes.length - 1] ?? null;
  }
  get nextSibling(): StandinNode | null {
    const list = this.parentNode?.childNodes;
    return list ? (list[list.indexOf(this) + 1] ?? null) : null;
  }
  get previousSibling(): StandinNode | null {
    const list = this.parentNode?.childNodes;
    return list ? (list[list.indexOf(this) - 1] ?? null) : null;
  }
  get isConnected(): boolean {
    let n: StandinNode | null = this;
    while (n.parentNode) n = n.parentNode;
    return n === doc?.documentElement;
  }
  get textContent(): string {
    return this.childNodes.map((c) => c.textContent).join('');
  }
  set textContent(text: string) {
    for (const c of this.childNodes) c.parentNode = null;
    this.childNodes.length = 0;
    if (text !== '' && text !== null && text !== undefined) this.appendChild(new StandinText(String(text)));
  }
  contains(other: unknown): boolean {
    for (let n = other as StandinNode | null; n; n = n.parentNode) if (n === this) return true;
    return false;
  }
  appendChild<T extends StandinNode>(child: T): T {
    return this.insertBefore(child, null);
  }
  insertBefore<T extends StandinNode>(child: T, ref: StandinNode | null): T {
    if (child instanceof StandinFragment) {
      for (const c of [...child.childNodes]) this.insertBefore(c, ref);
      return child;
    }
    if (child.contains(this)) throw new Error('HierarchyRequestError: a node cannot contain itself');
    child.remove();
    const at = ref === null ? -1 : this.childNodes.indexOf(ref);
    if (at < 0) this.childNodes.push(child);
    else this.childNodes.splice(at, 0, child);
    child.parentNode = this as unknown as StandinElement;
    return child;
  }
  removeChild<T extends StandinNode>(child: T): T {
    const at = this.childNodes.indexOf(child);
    if (at < 0) throw new Error('NotFoundError: not a child of this node');
    this.childNodes.splice(at, 1);
    child.parentNode = null;
    return child;
  }
  replaceChild<T extends StandinNode>(next: StandinNode, old: T): T {
    this.insertBefore(next, old);
    return this.removeChild(old);
  }
  remove(): void {
    this.parentNode?.removeChild(this);
  }
  cloneNode(deep = false): StandinNode {
    const copy = this instanceof StandinText ? new StandinText(this.data) : new StandinNode();
    if (deep) for (const c of this.childNodes) copy.appendChild(c.cloneNode(true));
    return copy;
  }
}

export class StandinText extends StandinNode {
  override readonly nodeType: number = 3;
  constructor(public data: string) {
    super();
  }
  override get textContent(): string {
    return this.data;
  }
  override set textContent(text: string) {
    this.data = String(text);
  }
  get nodeValue(): string {
    return this.data;
  }
}

export class StandinFragment extends StandinNode {
  override readonly nodeType: number = 11;
}

const toNodes = (items: unknown[]): StandinNode[] => items.map((x) => (x instanceof StandinNode ? x : new StandinText(String(x))));

export class StandinElement extends StandinNode {
  readonly tagName: string;
  readonly localName: string;
  readonly attributes = new Map<string, string>();
  readonly style: Record<string, unknown> & { setProperty(k: string, v: string): void; getPropertyValue(k: string): string; removeProperty(k: string): string };
  readonly dataset: Record<string, string | undefined>;
  readonly classList: {
    add(...c: string[]): void;
    remove(...c: string[]): void;
    toggle(c: string, force?: boolean): boolean;
    contains(c: string): boolean;
    replace(a: string, b: string): boolean;
    readonly length: number;
    [Symbol.iterator](): Iterator<string>;
  };
  private readonly listeners = new Map<string, Set<Listener>>();
  value = '';
  checked = false;
  disabled = false;
  selectionStart = 0;
  selectionEnd = 0;
  scrollTop = 0;
  scrollLeft = 0;

  constructor(tag: string) {
    super();
    this.localName = tag.toLowerCase();
    this.tagName = tag.toUpperCase();
    const props = new Map<string, string>();
    this.style = Object.assign(Object.create(null) as Record<string, unknown>, {
      setProperty: (k: string, v: string) => void props.set(k, String(v)),
      getPropertyValue: (k: string) => props.get(k) ?? '',
      removeProperty: (k: string) => {
        const v = props.get(k) ?? '';
        props.delete(k);
        return v;
      },
    });
    const el = this;
    this.dataset = new Proxy({} as Record<string, string | undefined>, {
      get: (_t, key) => (typeof key === 'string' ? el.getAttribute('data-' + kebab(key)) ?? undefined : undefined),
      set: (_t, key, value) => {
        if (typeof key === 'string') el.setAttribute('data-' + kebab(key), String(value));
        return true;
      },
      deleteProperty: (_t, key) => {
        if (typeof key === 'string') el.removeAttribute('data-' + kebab(key));
        return true;
      },
      has: (_t, key) => typeof key === 'string' && el.hasAttribute('data-' + kebab(key)),
      ownKeys: () => [...el.attributes.keys()].filter((k) => k.startsWith('data-')).map((k) => camel(k.slice(5))),
      getOwnPropertyDescriptor: (_t, key) =>
        typeof key === 'string' && el.hasAttribute('data-' + kebab(key)) ? { value: el.getAttribute('data-' + kebab(key)), enumerable: true, configurable: true, writable: true } : undefined,
    });
    const classes = (): string[] => (this.getAttribute('class') ?? '').split(/\s+/).filter(Boolean);
    const write = (list: string[]): void => this.setAttribute('class', [...new Set(list)].join(' '));
    this.classList = {
      add: (...c) => write([...classes(), ...c]),
      remove: (...c) => write(classes().filter((x) => !c.includes(x))),
      toggle: (c, force) => {
        const on = force ?? !classes().includes(c);
        write(on ? [...classes(), c] : classes().filter((x) => x !== c));
        return on;
      },
      contains: (c) => classes().includes(c),
      replace: (a, b) => {
        const list = classes();
        if (!list.includes(a)) return false;
        write(list.map((x) => (x === a ? b : x)));
        return true;
      },
      get length() {
        return classes().length;
      },
      [Symbol.iterator]: () => classes()[Symbol.iterator](),
    };
  }

  get nodeName(): string {
    return this.tagName;
  }
  get id(): string {
    return this.getAttribute('id') ?? '';
  }
  set id(v: string) {
    this.setAttribute('id', v);
  }
  get className(): string {
    return this.getAttribute('class') ?? '';
  }
  set className(v: string) {
    this.setAttribute('class', v);
  }
  get hidden(): boolean {
    return this.hasAttribute('hidden');
  }
  set hidden(v: boolean) {
    if (v) this.setAttribute('hidden', '');
    else this.removeAttribute('hidden');
  }
  get title(): string {
    return this.getAttribute('title') ?? '';
  }
  set title(v: string) {
    this.setAttribute('title', v);
  }
  get href(): string {
    return this.getAttribute('href') ?? '';
  }
  set href(v: string) {
    this.setAttribute('href', v);
  }
  get name(): string {
    return this.getAttribute('name') ?? '';
  }
  get type(): string {
    return this.getAttribute('type') ?? '';
  }
  get tabIndex(): number {
    return Number(this.getAttribute('tabindex') ?? -1);
  }
  set tabIndex(v: number) {
    this.setAttribute('tabindex', String(v));
  }
  get open(): boolean {
    return this.hasAttribute('open');
  }
  set open(v: boolean) {
    if (v) this.setAttribute('open', '');
    else this.removeAttribute('open');
  }
  get innerHTML(): string {
    return this.textContent;
  }
  /** No parser: the markup is kept as text. */
  set innerHTML(v: string) {
    this.textContent = v;
  }
  get innerText(): string {
    return this.textContent;
  }
  set innerText(v: string) {
    this.textContent = v;
  }
  get children(): StandinElement[] {
    return this.childNodes.filter((c): c is StandinElement => c instanceof StandinElement);
  }
  get childElementCount(): number {
    return this.children.length;
  }
  get firstElementChild(): StandinElement | null {
    return this.children[0] ?? null;
  }
  get lastElementChild(): StandinElement | null {
    return this.children[this.children.length - 1] ?? null;
  }
  get nextElementSibling(): StandinElement | null {
    const list = this.parentNode?.children;
    return list ? (list[list.indexOf(this) + 1] ?? null) : null;
  }
  get previousElementSibling(): StandinElement | null {
    const list = this.parentNode?.children;
    return list ? (list[list.indexOf(this) - 1] ?? null) : null;
  }
  // no layout: every box is empty
  get offsetWidth(): number {
    return 0;
  }
  get offsetHeight(): number {
    return 0;
  }
  get clientWidth(): number {
    return 0;
  }
  get clientHeight(): number {
    return 0;
  }
  get scrollWidth(): number {
    return 0;
  }
  get scrollHeight(): number {
    return 0;
  }
  getBoundingClientRect(): { top: number; left: number; right: number; bottom: number; width: number; height: number; x: number; y: number } {
    return { top: 0, left: 0, right: 0, bottom: 0, width: 0, height: 0, x: 0, y: 0 };
  }
  getClientRects(): unknown[] {
    return [];
  }

  getAttribute(name: string): string | null {
    return this.attributes.get(name.toLowerCase()) ?? null;
  }
  setAttribute(name: string, value: unknown): void {
    this.attributes.set(name.toLowerCase(), String(value));
  }
  removeAttribute(name: string): void {
    this.attributes.delete(name.toLowerCase());
  }
  hasAttribute(name: string): boolean {
    return this.attributes.has(name.toLowerCase());
  }
  toggleAttribute(name: string, force?: boolean): boolean {
    const on = force ?? !this.hasAttribute(name);
    if (on) this.setAttribute(name, '');
    else this.removeAttribute(name);
    return on;
  }
  getAttributeNames(): string[] {
    return [...this.attributes.keys()];
  }

  append(...items: unknown[]): void {
    for (const n of toNodes(items)) this.appendChild(n);
  }
  prepend(...items: unknown[]): void {
    const first = this.firstChild;
    for (const n of toNodes(items)) this.insertBefore(n, first);
  }
  replaceChildren(...items: unknown[]): void {
    const nodes = toNodes(items);
    for (const c of [...this.childNodes]) this.removeChild(c);
    for (const n of nodes) this.appendChild(n);
  }
  before(...items: unknown[]): void {
    for (const n of toNodes(items)) this.parentNode?.insertBefore(n, this);
  }
  after(...items: unknown[]): void {
    const next = this.nextSibling;
    for (const n of toNodes(items)) this.parentNode?.insertBefore(n, next);
  }
  replaceWith(...items: unknown[]): void {
    this.before(...items);
    this.remove();
  }
  insertAdjacentElement(where: string, el: StandinElement): StandinElement {
    if (where === 'beforebegin') this.before(el);
    else if (where === 'afterbegin') this.prepend(el);
    else if (where === 'beforeend') this.append(el);
    else this.after(el);
    return el;
  }
  override cloneNode(deep = false): StandinElement {
    const copy = new StandinElement(this.localName);
    for (const [k, v] of this.attributes) copy.attributes.set(k, v);
    if (deep) for (const c of this.childNodes) copy.appendChild(c.cloneNode(true));
    return copy;
  }

  matches(selector: string): boolean {
    return parseSelectors(selector).some((s) => matchComplex(this, s));
  }
  closest(selector: string): StandinElement | null {
    const list = parseSelectors(selector);
    for (let n: StandinElement | null = this; n; n = n.parentNode) if (list.some((s) => matchComplex(n!, s))) return n;
    return null;
  }
  querySelectorAll(selector: string): StandinElement[] {
    const list = parseSelectors(selector);
    const out: StandinElement[] = [];
    const walk = (el: StandinElement): void => {
      for (const c of el.children) {
        if (list.some((s) => matchComplex(c, s))) out.push(c);
        walk(c);
      }
    };
    walk(this);
    return out;
  }
  querySelector(selector: string): StandinElement | null {
    return this.querySelectorAll(selector)[0] ?? null;
  }
  getElementsByTagName(tag: string): StandinElement[] {
    return this.querySelectorAll(tag);
  }
  getElementsByClassName(name: string): StandinElement[] {
    return this.querySelectorAll('.' + name.trim().split(/\s+/).join('.'));
  }

  addEventListener(type: string, fn: Listener | { handleEvent: Listener } | null): void {
    if (!fn) return;
    const set = this.listeners.get(type) ?? new Set<Listener>();
    set.add(typeof fn === 'function' ? fn : (ev) => fn.handleEvent(ev));
    this.listeners.set(type, set);
  }
  removeEventListener(type: string, fn: Listener): void {
    this.listeners.get(type)?.delete(fn);
  }
  dispatchEvent(ev: { type: string }): boolean {
    for (const fn of this.listeners.get(ev.type) ?? []) fn(ev);
    return true;
  }
  focus(): void {
    if (doc) doc.activeElement = this;
  }
  blur(): void {
    if (doc && doc.activeElement === this) doc.activeElement = doc.body;
  }
  click(): void {
    this.dispatchEvent({ type: 'click' });
  }
  scrollIntoView(): void {}
  scrollTo(): void {}
  scrollBy(): void {}
  setSelectionRange(start: number, end: number): void {
    this.selectionStart = start;
    this.selectionEnd = end;
  }
  select(): void {}
  animate(): { finished: Promise<void>; cancel(): void; onfinish: null } {
    return { finished: Promise.resolve(), cancel() {}, onfinish: null };
  }
  attachShadow(): StandinElement {
    return new StandinElement('shadow-root');
  }
  get form(): StandinElement | null {
    return this.closest('form');
  }
  reset(): void {}
  requestSubmit(): void {
    this.dispatchEvent({ type: 'submit' });
  }
  showModal(): void {
    this.open = true;
  }
  close(): void {
    this.open = false;
  }
}

// ------------------------------------------------------------------ selectors

/** One compound selector: tag, id, classes, attributes, and a few pseudo-classes. */
interface Compound {
  tag: string | null;
  id: string | null;
  classes: string[];
  attrs: { name: string; op: string | null; value: string }[];
  not: Complex[];
  pseudo: string[];
}
/** Compounds from right to left, with the combinator that joins each to the one on its left. */
type Complex = { compound: Compound; combinator: ' ' | '>' | null }[];

const cache = new Map<string, Complex[]>();

function parseSelectors(text: string): Complex[] {
  const hit = cache.get(text);
  if (hit) return hit;
  const out = splitTop(text, ',').map((part) => parseComplex(part.trim()));
  if (cache.size > 500) cache.clear();
  cache.set(text, out);
  return out;
}

function splitTop(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '(') depth++;
    else if (ch === ']' || ch === ')') depth--;
    else if (ch === sep && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function parseComplex(text: string): Complex {
  if (!text) throw new SyntaxError(`'${text}' is not a valid selector`);
  const chain: Complex = [];
  let i = 0;
  let combinator: ' ' | '>' | null = null;
  const compounds: { compound: Compound; combinator: ' ' | '>' | null }[] = [];
  while (i < text.length) {
    while (text[i] === ' ') {
      combinator = ' ';
      i++;
    }
    if (text[i] === '>') {
      combinator = '>';
      i++;
      while (text[i] === ' ') i++;
    }
    if (text[i] === '+' || text[i] === '~') throw new SyntaxError(`the view probe's DOM does not read sibling selectors ('${text}')`);
    const [compound, next] = parseCompound(text, i);
    compounds.push({ compound, combinator: compounds.length === 0 ? null : combinator });
    combinator = null;
    i = next;
  }
  for (let k = compounds.length - 1; k >= 0; k--) chain.push(compounds[k]!);
  return chain;
}

function parseCompound(text: string, start: number): [Compound, number] {
  const c: Compound = { tag: null, id: null, classes: [], attrs: [], not: [], pseudo: [] };
  let i = start;
  const ident = (): string => {
    let s = '';
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === '\\') {
        s += text[i + 1] ?? '';
        i += 2;
      } else if (/[\w\u00a0-\uffff-]/.test(ch)) {
        s += ch;
        i++;
      } else break;
    }
    return s;
  };
  if (text[i] === '*') i++;
  else if (/[a-zA-Z]/.test(text[i] ?? '')) c.tag = ident().toLowerCase();
  while (i < text.length && text[i] !== ' ' && text[i] !== '>') {
    const ch = text[i]!;
    if (ch === '#') {
      i++;
      c.id = ident();
    } else if (ch === '.') {
      i++;
      c.classes.push(ident());
    } else if (ch === '[') {
      const end = findClose(text, i, '[', ']');
      const m = /^\[\s*([\w-]+)\s*(?:([~^$*|]?=)\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^\]\s]+))\s*)?\]$/.exec(text.slice(i, end + 1));
      if (!m) throw new SyntaxError(`'${text}' is not a valid selector`);
      c.attrs.push({ name: m[1]!.toLowerCase(), op: m[2] ?? null, value: unescape(m[3] ?? m[4] ?? m[5] ?? '') });
      i = end + 1;
    } else if (ch === ':') {
      i++;
      if (text[i] === ':') throw new SyntaxError(`the view probe's DOM does not read pseudo-elements ('${text}')`);
      const name = ident().toLowerCase();
      if (text[i] === '(') {
        const end = findClose(text, i, '(', ')');
        const arg = text.slice(i + 1, end);
        i = end + 1;
        if (name === 'not') c.not.push(...splitTop(arg, ',').map((p) => parseComplex(p.trim())));
        else throw new SyntaxError(`the view probe's DOM does not read :${name}()`);
      } else c.pseudo.push(name);
    } else throw new SyntaxError(`'${text}' is not a valid selector`);
  }
  return [c, i];
}

function findClose(text: string, at: number, open: string, close: string): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = at; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === open) depth++;
    else if (ch === close && --depth === 0) return i;
  }
  throw new SyntaxError(`'${text}' is not a valid selector`);
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

function matchCompound(el: StandinElement, c: Compound): boolean {
  if (c.tag !== null && el.localName !== c.tag) return false;
  if (c.id !== null && el.id !== c.id) return false;
  for (const cls of c.classes) if (!el.classList.contains(cls)) return false;
  for (const a of c.attrs) {
    const v = el.getAttribute(a.name);
    if (v === null) return false;
    if (a.op === '=' && v !== a.value) return false;
    if (a.op === '^=' && !v.startsWith(a.value)) return false;
    if (a.op === '$=' && !v.endsWith(a.value)) return false;
    if (a.op === '*=' && !v.includes(a.value)) return false;
    if (a.op === '~=' && !v.split(/\s+/).includes(a.value)) return false;
    if (a.op === '|=' && v !== a.value && !v.startsWith(a.value + '-')) return false;
  }
  for (const n of c.not) if (matchComplex(el, n)) return false;
  for (const p of c.pseudo) {
    if (p === 'focus' || p === 'focus-visible' || p === 'focus-within') {
      if (!doc || !(p === 'focus-within' ? el.contains(doc.activeElement) : doc.activeElement === el)) return false;
    } else if (p === 'first-child') {
      if (el.parentNode?.children[0] !== el) return false;
    } else if (p === 'last-child') {
      const sibs = el.parentNode?.children;
      if (!sibs || sibs[sibs.length - 1] !== el) return false;
    } else if (p === 'checked') {
      if (!el.checked) return false;
    } else if (p === 'disabled') {
      if (!el.disabled && !el.hasAttribute('disabled')) return false;
    } else if (p === 'empty') {
      if (el.childNodes.length) return false;
    } else if (p !== 'scope') return false; // hover, active, visited...: nothing is hovered here
  }
  return true;
}

function matchComplex(el: StandinElement, chain: Complex, at = 0): boolean {
  const step = chain[at];
  if (!step) return true;
  if (!matchCompound(el, step.compound)) return false;
  const next = chain[at + 1];
  if (!next) return true;
  if (step.combinator === '>') return el.parentNode !== null && matchComplex(el.parentNode, chain, at + 1);
  for (let p = el.parentNode; p; p = p.parentNode) if (matchComplex(p, chain, at + 1)) return true;
  return false;
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

function camel(s: string): string {
  return s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

// ------------------------------------------------------------------ the document and the globals

export class StandinDocument {
  readonly documentElement = new StandinElement('html');
  readonly head = new StandinElement('head');
  readonly body = new StandinElement('body');
  activeElement: StandinElement;
  title = '';
  readonly nodeType = 9;
  readyState = 'complete';
  visibilityState = 'visible';
  hidden = false;
  private readonly listeners = new StandinElement('document-listeners');
  constructor() {
    this.documentElement.append(this.head, this.body);
    this.activeElement = this.body;
  }
  createElement(tag: string): StandinElement {
    return new StandinElement(tag);
  }
  createElementNS(_ns: string, tag: string): StandinElement {
    return new StandinElement(tag);
  }
  createTextNode(text: string): StandinText {
    return new StandinText(String(text));
  }
  createDocumentFragment(): StandinFragment {
    return new StandinFragment();
  }
  createComment(text: string): StandinText {
    return new StandinText(String(text));
  }
  getElementById(id: string): StandinElement | null {
    return this.documentElement.querySelector(`#${id.replace(/[^\w-]/g, (c) => '\\' + c)}`);
  }
  querySelector(s: string): StandinElement | null {
    return this.documentElement.matches(s) ? this.documentElement : this.documentElement.querySelector(s);
  }
  querySelectorAll(s: string): StandinElement[] {
    return [...(this.documentElement.matches(s) ? [this.documentElement] : []), ...this.documentElement.querySelectorAll(s)];
  }
  getElementsByTagName(tag: string): StandinElement[] {
    return this.querySelectorAll(tag);
  }
  getElementsByClassName(name: string): StandinElement[] {
    return this.documentElement.getElementsByClassName(name);
  }
  addEventListener(type: string, fn: Listener): void {
    this.listeners.addEventListener(type, fn);
  }
  removeEventListener(type: string, fn: Listener): void {
    this.listeners.removeEventListener(type, fn);
  }
  dispatchEvent(ev: { type: string }): boolean {
    return this.listeners.dispatchEvent(ev);
  }
  contains(n: unknown): boolean {
    return this.documentElement.contains(n);
  }
  hasFocus(): boolean {
    return true;
  }
  getSelection(): null {
    return null;
  }
}

let doc: StandinDocument | null = null;

class NoopObserver {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
  takeRecords(): unknown[] {
    return [];
  }
}

function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    key: (i: number) => [...m.keys()][i] ?? null,
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, String(v)),
    removeItem: (k: string) => void m.delete(k),
    clear: () => m.clear(),
  };
}

/**
 * Put a fresh stand-in document and the browser globals a view may touch on `scope` (the worker's
 * global, or globalThis in a test). Returns a function that takes them away again.
 */
export function installDom(scope: Record<string, unknown> = globalThis as unknown as Record<string, unknown>): () => void {
  doc = new StandinDocument();
  let scrollY = 0;
  const listeners = new StandinElement('window-listeners');
  const globals: Record<string, unknown> = {
    document: doc,
    window: scope,
    Node: StandinNode,
    Text: StandinText,
    Element: StandinElement,
    HTMLElement: StandinElement,
    DocumentFragment: StandinFragment,
    Document: StandinDocument,
    IntersectionObserver: NoopObserver,
    ResizeObserver: NoopObserver,
    MutationObserver: NoopObserver,
    CSS: { escape: (s: string) => String(s).replace(/[^\w-]/g, (c) => '\\' + c), supports: () => false },
    getComputedStyle: (el: StandinElement) => el.style,
    matchMedia: (query: string) => ({ matches: false, media: query, addEventListener() {}, removeEventListener() {}, addListener() {}, removeListener() {} }),
    scrollTo: (x: unknown, y?: number) => void (scrollY = typeof x === 'object' && x !== null ? Number((x as { top?: number }).top ?? 0) : Number(y ?? 0)),
    scrollBy: (_x: unknown, y?: number) => void (scrollY += Number(y ?? 0)),
    history: { length: 1, state: null, scrollRestoration: 'manual', pushState() {}, replaceState() {}, back() {}, forward() {}, go() {} },
    localStorage: memoryStorage(),
    sessionStorage: memoryStorage(),
    confirm: () => false,
    alert: () => {},
    prompt: () => null,
    innerWidth: 1024,
    innerHeight: 768,
    devicePixelRatio: 1,
    requestAnimationFrame: (fn: (t: number) => void) => setTimeout(() => fn(performance.now()), 16) as unknown as number,
    cancelAnimationFrame: (id: number) => clearTimeout(id),
    requestIdleCallback: (fn: () => void) => setTimeout(fn, 1) as unknown as number,
    addEventListener: (type: string, fn: Listener) => listeners.addEventListener(type, fn),
    removeEventListener: (type: string, fn: Listener) => listeners.removeEventListener(type, fn),
  };
  for (const tag of ['Input', 'TextArea', 'Button', 'Form', 'Anchor', 'Details', 'Dialog', 'Select', 'Label', 'Image', 'Span', 'Div', 'LI', 'OList', 'UList', 'Paragraph', 'Time', 'Style']) {
    globals[`HTML${tag}Element`] = StandinElement;
  }
  const saved = new Map<string, PropertyDescriptor | undefined>();
  for (const [key, value] of Object.entries(globals)) {
    saved.set(key, Object.getOwnPropertyDescriptor(scope, key));
    Object.defineProperty(scope, key, { value, configurable: true, writable: true, enumerable: false });
  }
  for (const key of ['scrollY', 'pageYOffset']) {
    saved.set(key, Object.getOwnPropertyDescriptor(scope, key));
    Object.defineProperty(scope, key, { get: () => scrollY, configurable: true, enumerable: false });
  }
  if (!('location' in scope)) {
    saved.set('location', undefined);
    Object.defineProperty(scope, 'location', { value: { href: 'http://probe.invalid/', origin: 'http://probe.invalid', pathname: '/', search: '', hash: '', host: 'probe.invalid', protocol: 'http:' }, configurable: true, writable: true });
  }
  return () => {
    for (const [key, d] of saved) {
      if (d) Object.defineProperty(scope, key, d);
      else delete scope[key];
    }
    doc = null;
  };
}
