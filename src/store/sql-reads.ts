import { getLeaseQuery } from './lease.js';
import { reads, type Placeholder, type Query } from './mapping.js';
import type {
  AttemptRecord,
  LeaseRecord,
  RunRecord,
  ScalingDecisionRecord,
  TaskFilter,
  TaskHistoryRecord,
  TaskRecord,
  UsageSampleRecord,
  WorkerRecord,
} from './store.js';

/**
 * The read side of the Store, once for both SQL backends: the queries come from mapping.ts and
 * lease.ts; a backend supplies its placeholder style and how to run a query.
 */
export abstract class SqlReads {
  protected abstract readonly placeholder: Placeholder;
  protected abstract all<T>(query: Query<T>): Promise<T[]>;

  protected async first<T>(query: Query<T>): Promise<T | undefined> {
    return (await this.all(query))[0];
  }

  getLease(name: string): Promise<LeaseRecord | undefined> {
    return this.first(getLeaseQuery(name, this.leasePlaceholder()));
  }

  /** Lease statements may need another placeholder style than the rest (DuckDB numbers `?` oddly there). */
  protected leasePlaceholder(): Placeholder {
    return this.placeholder;
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return this.first(reads.getRun(id, this.placeholder));
  }

  listRuns(limit?: number): Promise<RunRecord[]> {
    return this.all(reads.listRuns(limit, this.placeholder));
  }

  getTask(id: string): Promise<TaskRecord | undefined> {
    return this.first(reads.getTask(id, this.placeholder));
  }

  listTasks(filter: TaskFilter = {}): Promise<TaskRecord[]> {
    return this.all(reads.listTasks(filter, this.placeholder));
  }

  async maxTaskSeq(): Promise<number> {
    return (await this.first(reads.maxTaskSeq())) ?? 0;
  }

  getAttempt(id: string): Promise<AttemptRecord | undefined> {
    return this.first(reads.getAttempt(id, this.placeholder));
  }

  listAttempts(taskId: string): Promise<AttemptRecord[]> {
    return this.all(reads.listAttempts(taskId, this.placeholder));
  }

  listWorkers(): Promise<WorkerRecord[]> {
    return this.all(reads.listWorkers(this.placeholder));
  }

  listUsageSamples(workerId: string, sinceAt?: number): Promise<UsageSampleRecord[]> {
    return this.all(reads.listUsageSamples(workerId, sinceAt, this.placeholder));
  }

  listScalingDecisions(limit?: number): Promise<ScalingDecisionRecord[]> {
    return this.all(reads.listScalingDecisions(limit, this.placeholder));
  }

  listTaskHistory(filter: { modelType?: string; name?: string; limit?: number } = {}): Promise<TaskHistoryRecord[]> {
    return this.all(reads.listTaskHistory(filter, this.placeholder));
  }
}
