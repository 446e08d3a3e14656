/**
 * The newest items, bounded in count and in bytes: the oldest go first, and the newest is always kept
 * (one item larger than the byte bound stays alone). The journal's recent commands and the event log
 * keep theirs here.
 */
export class Ring<T extends { readonly bytes: number }> {
  #items: T[] = [];
  /** Where the oldest kept item is: the ones before it are gone (no shift() per push). */
  #head = 0;
  #bytes = 0;
  constructor(
    readonly maxCount: number,
    readonly maxBytes: number,
  ) {}

  push(item: T): void {
    this.#items.push(item);
    this.#bytes += item.bytes;
    while (this.length > this.maxCount || (this.#bytes > this.maxBytes && this.length > 1)) {
      this.#bytes -= this.#items[this.#head]!.bytes;
      this.#items[this.#head++] = undefined as unknown as T; // let it go
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  /** How many are kept. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The i-th kept, oldest first. */
  at(i: number): T | undefined {
    return i >= 0 && i < this.length ? this.#items[this.#head + i] : undefined;
  }

  /** All kept, oldest first. */
  list(): readonly T[] {
    return this.#head === 0 ? this.#items : this.#items.slice(this.#head);
  }

  get bytes(): number {
    return this.#bytes;
  }
}
