/**
 * One pending call per key (a document URI): scheduling again for the same key replaces the
 * call still waiting, so work runs once typing in that document pauses. Disposing drops them all.
 */
export class PerKeyDebounce {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly ms: number) {}

  schedule(key: string, fn: () => void): void {
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        fn();
      }, this.ms),
    );
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
