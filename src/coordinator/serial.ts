/**
 * Runs async sections one at a time, in call order. Every change to the coordinator's view
 * (submit, result, worker join/loss, a scheduling cycle) goes through one of these, so the
 * in-memory view and the store never see interleaved half-applied changes.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(section: () => Promise<T> | T): Promise<T> {
    const next = this.tail.then(section, section);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Resolves once everything queued so far has finished. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
