/**
 * Tasks ready to be placed, by priority (highest first) and then in arrival order. A scheduling cycle
 * takes only the head of the queue: with 100,000 queued tasks and a few hundred free slots, handing
 * placement the whole queue on every cycle would make dispatch quadratic.
 */
export class ReadyQueue {
  private readonly byPriority = new Map<number, Set<string>>();
  /** Priorities present, highest first. */
  private priorities: number[] = [];
  private readonly priorityOf = new Map<string, number>();
  /** Counts additions, so a caller can tell whether anything became ready since it last looked. */
  additions = 0;

  get size(): number {
    return this.priorityOf.size;
  }

  has(id: string): boolean {
    return this.priorityOf.has(id);
  }

  add(id: string, priority: number): void {
    if (this.priorityOf.has(id)) return;
    let bucket = this.byPriority.get(priority);
    if (!bucket) {
      this.byPriority.set(priority, (bucket = new Set()));
      this.priorities = [...this.priorities, priority].sort((a, b) => b - a);
    }
    bucket.add(id);
    this.priorityOf.set(id, priority);
    this.additions++;
  }

  delete(id: string): void {
    const priority = this.priorityOf.get(id);
    if (priority === undefined) return;
    this.priorityOf.delete(id);
    const bucket = this.byPriority.get(priority)!;
    bucket.delete(id);
    if (bucket.size === 0) {
      this.byPriority.delete(priority);
      this.priorities = this.priorities.filter((p) => p !== priority);
    }
  }

  clear(): void {
    this.byPriority.clear();
    this.priorities = [];
    this.priorityOf.clear();
  }

  /** Every ready id, highest priority first, FIFO within a priority. */
  *[Symbol.iterator](): IterableIterator<string> {
    for (const p of this.priorities) yield* this.byPriority.get(p)!;
  }
}
