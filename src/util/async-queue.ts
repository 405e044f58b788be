/**
 * An unbounded single-consumer queue that ends with either completion or an error. Producers
 * never wait; the consumer iterates. Used wherever events cross from a pump to a reader.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  private error: unknown = undefined;
  private failed = false;

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.wake();
  }

  /** Ends the queue; a reader gets the items already pushed, then `done`. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Ends the queue with an error thrown to the reader after the pushed items. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.failed = true;
    this.error = error;
    this.end();
  }

  /** Drops what was not read yet (used when the reader must stop at once). */
  clear(): void {
    this.items.length = 0;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  async next(): Promise<IteratorResult<T>> {
    while (this.items.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    if (this.items.length > 0) return { value: this.items.shift()!, done: false };
    if (this.failed) {
      this.failed = false;
      throw this.error;
    }
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
