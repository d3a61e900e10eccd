/**
 * One person's review of a queue of judged items (the review view's host side; no vscode here).
 *
 * The session holds the queue (positions into a source's index, ./sampler.ts), loads an item only
 * when it is shown (with the next one read ahead), and turns each decision into an override in
 * the append-only audit log (src/core/audit.ts) at once, so nothing is lost when the window
 * closes. Accepting a verdict is recorded too (value = the judge's), because agreement needs the
 * confirmations as much as the corrections. Undo appends a `retracts` record, so the log is never
 * rewritten and the decision before it (if any) stands again. Editing an item's note re-records
 * that item's decisions of this session with the new note (retract + append, so undo still
 * undoes exactly one decision).
 *
 * Statistics (agreement and Cohen's kappa with a 95% interval per reward, ./agreement.ts) and
 * progress cover the items of this queue opened so far (their subject keys are known once read);
 * they count the latest standing decision of each verdict, earlier sessions' included.
 */
import { appendOverride, OverrideIndex, readAuditLog } from '../audit.js';
import { RewardName, type Override, type Verdict } from '../../protocol/run.js';
import type { ReviewAction, ReviewDecision, ReviewItemMessage, ReviewStats, ReviewVerdict, RewardAgreement } from '../../protocol/review.js';
import { agreementWithHumans } from '../audit/calibration.js';
import { kappaWithInterval } from './agreement.js';
import { describeSample, sampleQueue, type SampleOptions } from './sampler.js';
import type { LoadedItem, ReviewSource } from './source.js';

export interface ReviewSessionOptions {
  source: ReviewSource;
  sample?: SampleOptions;
  auditPath: string;
  author?: string;
  /** What the view may load for an image path (a webview URI, a test server URL); null hides it. */
  imageUri?: (path: string) => string | null;
  now?: () => Date;
}

interface Opened {
  subject: string;
  /** Rewards of this item that are reviewed (shown and present). */
  rewards: RewardName[];
  machine: Partial<Record<RewardName, number | null>>;
  /** The second judge's values, when the source has them. */
  second?: Partial<Record<RewardName, number | null>>;
}

interface Done {
  position: number;
  subject: string;
  reward: RewardName;
}

const CACHE_ITEMS = 64;

export class ReviewError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReviewError';
  }
}

export class ReviewSession {
  readonly order: number[];
  readonly rewards: RewardName[];
  readonly title: string;
  readonly warnings: string[];
  private readonly cache = new Map<number, Promise<LoadedItem>>();
  private readonly opened = new Map<number, Opened>();
  private readonly notes = new Map<number, string>();
  private readonly undoStack: Done[] = [];
  /** Overrides written by this session per (subject, reward), for note re-recording. */
  private readonly mine = new Map<string, Override>();
  private decisions = 0;
  private lastPosition = 0;

  private constructor(
    private o: ReviewSessionOptions,
    private readonly index: OverrideIndex,
    logWarnings: string[],
  ) {
    this.order = sampleQueue(o.source.entries, o.sample);
    this.rewards = o.sample?.reward ? [o.sample.reward] : [...RewardName.options];
    this.title = describeSample(o.sample ?? {}, this.order.length, o.source.description);
    this.warnings = [...o.source.warnings, ...logWarnings];
  }

  static async open(o: ReviewSessionOptions): Promise<ReviewSession> {
    const log = await readAuditLog(o.auditPath);
    return new ReviewSession(o, new OverrideIndex(log.overrides), log.warnings.map((w) => w.message));
  }

  /** How image paths become URIs the view may load (a panel sets this once it exists). */
  setImageUri(fn: (path: string) => string | null): void {
    this.o.imageUri = fn;
  }

  get total(): number {
    return this.order.length;
  }

  get position(): number {
    return this.lastPosition;
  }

  private check(position: number): void {
    if (!Number.isInteger(position) || position < 0 || position >= this.order.length) {
      throw new ReviewError(`no item at position ${position + 1}: the queue has ${this.order.length}`);
    }
  }

  private load(position: number): Promise<LoadedItem> {
    let p = this.cache.get(position);
    if (!p) {
      const entry = this.o.source.entries[this.order[position]!]!;
      p = this.o.source.load(entry);
      p.catch(() => this.cache.delete(position));
      this.cache.set(position, p);
      while (this.cache.size > CACHE_ITEMS) {
        const oldest = this.cache.keys().next().value;
        if (oldest === undefined) break;
        this.cache.delete(oldest);
      }
    }
    return p;
  }

  private async openItem(position: number): Promise<{ item: LoadedItem; info: Opened }> {
    this.check(position);
    const item = await this.load(position);
    let info = this.opened.get(position);
    if (!info) {
      const rewards = this.rewards.filter((r) => item.verdicts.some((v) => v.reward === r));
      const machine: Opened['machine'] = {};
      for (const v of item.verdicts) machine[v.reward] = v.state === 'error' ? null : v.value;
      let second: Opened['second'];
      if (item.second) {
        second = {};
        for (const [r, v] of Object.entries(item.second)) if (v) second[r as RewardName] = v.state === 'error' ? null : v.value;
      }
      info = { subject: item.subject, rewards, machine, ...(second ? { second } : {}) };
      this.opened.set(position, info);
    }
    return { item, info };
  }

  private decisionsOf(info: Opened): ReviewDecision[] {
    const standing = this.index.forSubject('reward', info.subject);
    const out: ReviewDecision[] = [];
    for (const r of info.rewards) {
      const o = standing.get(r);
      if (o) out.push({ reward: r, value: o.value, machine: o.machine_value, note: o.note });
    }
    return out;
  }

  /** Progress and agreement over the opened items. */
  stats(): ReviewStats {
    let done = 0;
    const pairs = new Map<RewardName, Array<[number, number]>>();
    for (const info of this.opened.values()) {
      const standing = this.index.forSubject('reward', info.subject);
      if (info.rewards.length > 0 && info.rewards.every((r) => standing.has(r))) done++;
      for (const r of info.rewards) {
        const o = standing.get(r);
        if (!o || o.machine_value === null) continue;
        let list = pairs.get(r);
        if (!list) pairs.set(r, (list = []));
        list.push([o.machine_value, o.value]);
      }
    }
    const withSecond = [...this.opened.values()].filter((o) => o.second !== undefined).map((o) => ({ subject: o.subject, values: o.second! }));
    const second = withSecond.length ? agreementWithHumans(withSecond, this.index, this.rewards) : undefined;
    const agreement: RewardAgreement[] = this.rewards.map((r) => {
      const k = kappaWithInterval(pairs.get(r) ?? []);
      const s = second?.[r];
      return {
        reward: r,
        n: k.n,
        agree: k.agree,
        agreement: k.agreement,
        kappa: k.kappa,
        lo: k.lo,
        hi: k.hi,
        ...(k.note ? { note: k.note } : {}),
        ...(s ? { second: { n: s.n, agreement: s.agreement, kappa: s.kappa, lo: s.lo, hi: s.hi } } : {}),
      };
    });
    return { progress: { total: this.order.length, done, decisions: this.decisions, canUndo: this.undoStack.length > 0 }, agreement };
  }

  private view(position: number, item: LoadedItem, info: Opened): ReviewItemMessage {
    const verdicts: ReviewVerdict[] = item.verdicts
      .filter((v) => info.rewards.includes(v.reward))
      .sort((a, b) => RewardName.options.indexOf(a.reward) - RewardName.options.indexOf(b.reward))
      .map((v: Verdict) => {
        const s = item.second?.[v.reward];
        return {
          reward: v.reward,
          state: v.state,
          value: v.state === 'error' ? null : v.value,
          rationale: v.rationale,
          judge: v.judge,
          ...(v.error ? { error: v.error } : {}),
          ...(v.line !== undefined ? { line: v.line } : {}),
          ...(s ? { second: s.state === 'error' ? null : s.value } : {}),
        };
      });
    return {
      type: 'item',
      position,
      item: {
        key: item.key,
        label: item.label,
        query: item.query,
        imageUri: item.imagePath && this.o.imageUri ? this.o.imageUri(item.imagePath) : null,
        imageSize: item.imageSize,
        plan: item.plan,
        program: item.program,
        answer: item.answer,
        error: item.error,
        detections: item.detections,
        verdicts,
      },
      decisions: this.decisionsOf(info),
      note: this.notes.get(position) ?? '',
      rewards: this.rewards,
      title: this.title,
      stats: this.stats(),
    };
  }

  /** The item at `position`, with its decisions and the statistics; reads the next one ahead. */
  async item(position: number): Promise<ReviewItemMessage> {
    const { item, info } = await this.openItem(position);
    this.lastPosition = position;
    if (position + 1 < this.order.length) void this.load(position + 1).catch(() => undefined);
    return this.view(position, item, info);
  }

  private record(info: Opened, reward: RewardName, value: number, machine: number | null, note: string, extra: Partial<Override> = {}): Override {
    return {
      kind: 'reward',
      subject: info.subject,
      target: reward,
      value,
      machine_value: machine,
      note,
      ...(this.o.author ? { author: this.o.author } : {}),
      at: (this.o.now ?? (() => new Date()))().toISOString(),
      ...extra,
    };
  }

  private async write(o: Override): Promise<void> {
    await appendOverride(this.o.auditPath, o);
    this.index.add(o);
  }

  /** Accept (the judge is right), flip (it is wrong) or set a value for one verdict of an item. */
  async decide(position: number, reward: RewardName, action: ReviewAction, value?: number): Promise<ReviewItemMessage> {
    const { item, info } = await this.openItem(position);
    if (!info.rewards.includes(reward)) throw new ReviewError(`item ${position + 1} has no ${reward} verdict to review`);
    const machine = info.machine[reward] ?? null;
    let v: number;
    if (action === 'set') {
      if (value === undefined) throw new ReviewError('set needs a value');
      v = value;
    } else {
      if (machine === null) throw new ReviewError(`the ${reward} judge failed on this item (or was not called), so there is nothing to accept or flip: give the verdict with 1 (pass) or 0 (fail)`);
      v = action === 'accept' ? machine : machine >= 1 ? 0 : 1;
    }
    const note = this.notes.get(position) ?? '';
    const o = this.record(info, reward, v, machine, note || `${action === 'set' ? `set to ${v}` : action === 'accept' ? 'accepted' : 'flipped'} in the review queue`);
    try {
      await this.write(o);
    } catch (err) {
      if (err instanceof RangeError) throw new ReviewError(err.message);
      throw err;
    }
    this.mine.set(`${info.subject}\u0000${reward}`, o);
    this.undoStack.push({ position, subject: info.subject, reward });
    this.decisions++;
    this.lastPosition = position;
    return this.view(position, item, info);
  }

  /** Sets the item's note; decisions already made on it in this session are re-recorded with it. */
  async setNote(position: number, text: string): Promise<ReviewItemMessage> {
    const { item, info } = await this.openItem(position);
    const note = text.trim();
    this.notes.set(position, note);
    if (note) {
      const standing = this.index.forSubject('reward', info.subject);
      for (const r of info.rewards) {
        const key = `${info.subject}\u0000${r}`;
        const prev = this.mine.get(key);
        if (!prev || standing.get(r) !== prev || prev.note === note) continue;
        await this.write(this.record(info, r, prev.value, prev.machine_value, prev.note, { retracts: true }));
        const again = this.record(info, r, prev.value, prev.machine_value, note);
        await this.write(again);
        this.mine.set(key, again);
      }
    }
    return this.view(position, item, info);
  }

  /** Withdraws this session's latest decision; returns its item. */
  async undo(): Promise<ReviewItemMessage> {
    const last = this.undoStack.pop();
    if (!last) throw new ReviewError('nothing to undo in this session');
    const { item, info } = await this.openItem(last.position);
    const standing = this.index.get('reward', last.subject, last.reward);
    await this.write(this.record(info, last.reward, standing?.value ?? 0, standing?.machine_value ?? null, 'undone in the review queue', { retracts: true }));
    this.mine.delete(`${last.subject}\u0000${last.reward}`);
    this.decisions--;
    this.lastPosition = last.position;
    return this.view(last.position, item, info);
  }
}
