/**
 * The latest run and scores of each open `.vprog` document, keyed by its URI string. Editor
 * features (decorations, hovers, diagnostics, code lenses, the run view) read from here and
 * refresh when it changes. Kept in memory; run records on disk are the durable copy.
 */
import type { RewardSet, RunRecord } from '../protocol/run.js';
import { rewardSubject } from '../core/audit.js';

export interface StoredRun {
  record: RunRecord;
  /** Where the record was written, when it was. */
  path?: string;
}

export interface StoredScores {
  /** The reward set as shown (overrides applied). */
  set: RewardSet;
  /** Audit subject of (query, reply) the set belongs to. */
  subject: string;
  query: string;
  reply: string;
  /** Program the scores were computed for (diagnostics are dropped when it changes). */
  program: string | null;
}

export interface DocumentResults {
  run?: StoredRun;
  scores?: StoredScores;
}

export class ResultsStore {
  private readonly byDoc = new Map<string, DocumentResults>();
  private readonly listeners = new Set<(uri: string) => void>();

  get(uri: string): DocumentResults {
    return this.byDoc.get(uri) ?? {};
  }

  setRun(uri: string, run: StoredRun): void {
    const cur = this.get(uri);
    // Scores embedded in the record win; otherwise scores of the same reply stay.
    const scores =
      run.record.rewards && run.record.reply !== undefined
        ? { set: run.record.rewards, subject: rewardSubject(run.record.query, run.record.reply), query: run.record.query, reply: run.record.reply, program: run.record.program }
        : cur.scores && cur.scores.reply === run.record.reply
          ? cur.scores
          : undefined;
    this.byDoc.set(uri, { run, scores });
    this.emit(uri);
  }

  setScores(uri: string, scores: StoredScores): void {
    this.byDoc.set(uri, { ...this.get(uri), scores });
    this.emit(uri);
  }

  clear(uri: string): void {
    if (this.byDoc.delete(uri)) this.emit(uri);
  }

  /** Every document whose stored run has this id. */
  documentsOfRun(runId: string): string[] {
    return [...this.byDoc.entries()].filter(([, r]) => r.run?.record.id === runId).map(([u]) => u);
  }

  onDidChange(listener: (uri: string) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private emit(uri: string): void {
    for (const l of [...this.listeners]) l(uri);
  }
}
