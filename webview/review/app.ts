/**
 * The review queue view: one judged item at a time (query, image with its detections, plan,
 * program, answer, the verdicts with rationales), a decision per verdict, a note, progress, and
 * agreement with Cohen's kappa per reward as the person works. Everything is on the keyboard:
 *
 *   ↓ / j, ↑ / k   move between verdicts        a  accept (the judge is right)   f  flip it
 *   1 / 0          set pass / fail (also for a failed judge)
 *   Enter          accept every verdict not yet decided, then the next item
 *   → / n, ← / p   next / previous item         u or Ctrl+Z  undo the last decision
 *   m              write a note (Enter keeps it, Esc leaves it)
 *
 * The host holds the queue and the audit log (src/core/review/session.ts); the view only asks
 * for an item and reports decisions. Keys pressed while an answer is on its way are queued and
 * applied in order, so fast typing never applies a key to the wrong item. Text from records only
 * goes into textContent.
 */
import { parseReviewHostMessage, type ReviewHostMessage, type ReviewItemMessage, type ReviewViewMessage } from '../../src/protocol/review.js';
import { h, setChildren } from '../dom.js';
import type { VsCodeApi } from '../vscodeApi.js';

type Step = (m: ReviewItemMessage) => ReviewViewMessage | null;

const CALL_CLASSES = 6;

function fmt(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined ? '–' : x.toFixed(digits);
}

function valueWord(v: number | null): string {
  if (v === null) return 'failed';
  return v >= 1 ? 'pass' : v === 0 ? 'fail' : String(v);
}

export class ReviewApp {
  private current: ReviewItemMessage | undefined;
  private focused = 0;
  private pending = false;
  private readonly steps: Step[] = [];
  private readonly header = h('header', { class: 'rv-header' });
  private readonly body = h('div', { class: 'rv-body' });
  private readonly statsEl = h('section', { class: 'rv-stats', attrs: { 'aria-label': 'agreement' } });
  private readonly banner = h('div', { class: 'rv-banner', attrs: { role: 'alert', hidden: true } });
  private readonly note = h('textarea', { class: 'rv-note', attrs: { rows: 2, placeholder: 'Note for this item (m to write, Enter to keep)', 'aria-label': 'note' } });

  constructor(
    private readonly root: HTMLElement,
    private readonly api: VsCodeApi,
  ) {
    setChildren(root, [this.header, this.banner, this.body, this.statsEl, h('footer', { class: 'rv-keys', text: '↓↑ verdict · a accept · f flip · 1/0 pass/fail · Enter accept rest + next · →/← next/previous · u undo · m note' })]);
    root.tabIndex = 0;
    window.addEventListener('message', (e: MessageEvent) => this.onHost(e.data));
    document.addEventListener('keydown', (e) => this.onKey(e));
    this.note.addEventListener('keydown', (e) => {
      if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        this.commitNote();
        this.root.focus();
      }
    });
    this.note.addEventListener('blur', () => this.commitNote());
    this.api.postMessage({ type: 'ready' });
    this.root.focus();
  }

  private post(m: ReviewViewMessage): void {
    this.pending = true;
    this.api.postMessage(m);
  }

  private pump(): void {
    while (!this.pending && this.current && this.steps.length > 0) {
      const step = this.steps.shift()!;
      const m = step(this.current);
      if (m) this.post(m);
    }
    // For tests and assistive tools: whether keys are still being worked through.
    this.root.dataset['busy'] = this.pending || this.steps.length > 0 ? 'yes' : 'no';
  }

  private queue(step: Step): void {
    this.steps.push(step);
    this.pump();
  }

  private onHost(raw: unknown): void {
    const parsed = parseReviewHostMessage(raw);
    if (!parsed.ok) return;
    const m: ReviewHostMessage = parsed.message;
    this.pending = false;
    if (m.type === 'error') {
      this.showBanner(m.message);
    } else if (m.type === 'empty') {
      this.current = undefined;
      setChildren(this.header, [h('h1', { class: 'rv-title', text: m.title })]);
      setChildren(this.body, [h('p', { class: 'rv-empty', text: m.message })]);
    } else if (m.type === 'stats') {
      if (this.current) this.current = { ...this.current, stats: m.stats };
      this.renderStats();
    } else {
      const samePlace = this.current?.position === m.position;
      if (!samePlace) {
        this.focused = 0;
        this.note.value = m.note;
        this.hideBanner();
      }
      this.current = m;
      if (samePlace) this.moveFocusToUndecided();
      this.render();
    }
    this.pump();
  }

  private showBanner(text: string): void {
    this.banner.textContent = text;
    this.banner.hidden = false;
  }

  private hideBanner(): void {
    this.banner.hidden = true;
  }

  private decided(m: ReviewItemMessage, reward: string): boolean {
    return m.decisions.some((d) => d.reward === reward);
  }

  private moveFocusToUndecided(): void {
    const m = this.current;
    if (!m) return;
    const rows = m.item.verdicts;
    if (rows.length === 0) return;
    for (let k = 0; k < rows.length; k++) {
      const i = (this.focused + k) % rows.length;
      if (!this.decided(m, rows[i]!.reward)) {
        this.focused = i;
        return;
      }
    }
  }

  private commitNote(): void {
    const m = this.current;
    if (!m) return;
    const text = this.note.value;
    if (text.trim() === m.note.trim()) return;
    const position = m.position;
    this.queue(() => ({ type: 'note', position, text }));
  }

  private onKey(e: KeyboardEvent): void {
    if (e.target === this.note) return;
    if (e.altKey || e.metaKey) return;
    const key = e.key;
    const ctrlZ = e.ctrlKey && (key === 'z' || key === 'Z');
    if (e.ctrlKey && !ctrlZ) return;
    const decide = (action: 'accept' | 'flip' | 'set', value?: number): Step => (m) => {
      const v = m.item.verdicts[Math.min(this.focused, m.item.verdicts.length - 1)];
      if (!v) return null;
      return { type: 'decide', position: m.position, reward: v.reward, action, ...(value !== undefined ? { value } : {}) };
    };
    let handled = true;
    switch (true) {
      case key === 'ArrowDown' || key === 'j':
        this.queue(() => {
          if (this.current) this.focused = Math.min(this.focused + 1, this.current.item.verdicts.length - 1);
          this.render();
          return null;
        });
        break;
      case key === 'ArrowUp' || key === 'k':
        this.queue(() => {
          this.focused = Math.max(0, this.focused - 1);
          this.render();
          return null;
        });
        break;
      case key === 'a':
        this.queue(decide('accept'));
        break;
      case key === 'f':
        this.queue(decide('flip'));
        break;
      case key === '1':
        this.queue(decide('set', 1));
        break;
      case key === '0':
        this.queue(decide('set', 0));
        break;
      case key === 'Enter': {
        // Accept the rest: one step per undecided verdict, evaluated when its turn comes.
        const n = this.current?.item.verdicts.length ?? 6;
        for (let i = 0; i < n; i++) {
          this.queue((m) => {
            const v = m.item.verdicts.find((x) => !this.decided(m, x.reward) && x.value !== null);
            return v ? { type: 'decide', position: m.position, reward: v.reward, action: 'accept' } : null;
          });
        }
        this.queue((m) => (m.position + 1 < m.stats.progress.total ? { type: 'open', position: m.position + 1 } : null));
        break;
      }
      case key === 'ArrowRight' || key === 'n':
        this.queue((m) => (m.position + 1 < m.stats.progress.total ? { type: 'open', position: m.position + 1 } : null));
        break;
      case key === 'ArrowLeft' || key === 'p':
        this.queue((m) => (m.position > 0 ? { type: 'open', position: m.position - 1 } : null));
        break;
      case key === 'u' || ctrlZ:
        this.queue((m) => (m.stats.progress.canUndo ? { type: 'undo' } : null));
        break;
      case key === 'm':
        this.queue(() => {
          this.note.focus();
          return null;
        });
        break;
      default:
        handled = false;
    }
    if (handled) e.preventDefault();
  }

  private render(): void {
    const m = this.current;
    if (!m) return;
    const it = m.item;
    const p = m.stats.progress;
    setChildren(this.header, [
      h('h1', { class: 'rv-title', text: m.title }),
      h('div', { class: 'rv-progress', attrs: { 'data-done': p.done, 'data-total': p.total, 'data-position': m.position } }, [
        h('progress', { attrs: { max: Math.max(1, p.total), value: p.done, 'aria-label': 'items reviewed' } }),
        ` ${p.done} of ${p.total} reviewed · item ${m.position + 1} of ${p.total} (${it.label}) · ${p.decisions} decision${p.decisions === 1 ? '' : 's'} this session`,
      ]),
    ]);

    const stage = h('div', { class: 'rv-stage' });
    if (it.imageUri) {
      const img = h('img', { class: 'rv-image', attrs: { src: it.imageUri, alt: 'the image of the query', loading: 'lazy', decoding: 'async' } });
      stage.append(img);
      const place = (): void => {
        const w = it.imageSize?.width ?? img.naturalWidth;
        const hgt = it.imageSize?.height ?? img.naturalHeight;
        if (!w || !hgt) return;
        for (const d of it.detections) {
          const box = h('div', { class: `rv-box rv-call-${d.call % CALL_CLASSES}`, title: `${d.label} ${d.score.toFixed(2)} (gd_detect call ${d.call + 1})` }, [
            h('span', { class: 'rv-box-label', text: `${d.label} ${d.score.toFixed(2)}` }),
          ]);
          box.style.left = `${(d.bbox[0] / w) * 100}%`;
          box.style.top = `${(d.bbox[1] / hgt) * 100}%`;
          box.style.width = `${((d.bbox[2] - d.bbox[0]) / w) * 100}%`;
          box.style.height = `${((d.bbox[3] - d.bbox[1]) / hgt) * 100}%`;
          stage.append(box);
        }
        stage.dataset['boxes'] = String(it.detections.length);
      };
      if (it.imageSize) place();
      else img.addEventListener('load', place, { once: true });
    } else {
      stage.append(h('p', { class: 'rv-muted', text: 'no image for this item' }));
    }

    const programLines = (it.program ?? '').split('\n');
    const program = it.program
      ? h(
          'ol',
          { class: 'rv-program' },
          programLines.map((l) => h('li', {}, [h('code', { text: l })])),
        )
      : h('p', { class: 'rv-muted', text: 'no program' });

    const rows = it.verdicts.map((v, i) => {
      const d = m.decisions.find((x) => x.reward === v.reward);
      const machine = v.value;
      const human = d ? valueWord(d.value) : '';
      const agreeCls = d ? (d.value === machine ? 'rv-agree' : 'rv-disagree') : 'rv-open';
      const cited = v.line !== undefined && v.line !== null ? ` (program line ${v.line})` : '';
      return h(
        'tr',
        {
          class: `rv-verdict ${agreeCls}${i === this.focused ? ' rv-focused' : ''}`,
          attrs: { 'data-reward': v.reward, 'data-decided': d ? 'yes' : 'no', 'data-human': d ? d.value : null, 'aria-selected': i === this.focused },
        },
        [
          h('th', { text: v.reward, attrs: { scope: 'row' } }),
          h('td', { class: `rv-machine rv-${v.state}`, text: valueWord(machine) }),
          v.second !== undefined ? h('td', { class: 'rv-second', text: `2nd: ${valueWord(v.second)}` }) : h('td', { class: 'rv-second' }),
          h('td', { class: 'rv-human', text: human }),
          h('td', { class: 'rv-rationale', text: v.state === 'error' ? `judge failed: ${v.error ?? 'no verdict'}` : v.state === 'skipped' ? `not judged: ${v.rationale || 'the format gate was 0'}` : `${v.rationale}${cited}` }),
        ],
      );
    });

    setChildren(this.body, [
      h('section', { class: 'rv-left' }, [
        h('p', { class: 'rv-query', text: it.query }),
        stage,
        h('p', { class: 'rv-answer', text: it.error ? `error: ${it.error}` : `answer: ${it.answer ?? '–'}` }),
      ]),
      h('section', { class: 'rv-right' }, [
        h('h2', { text: 'Plan' }),
        h('pre', { class: 'rv-plan', text: it.plan ?? 'no plan' }),
        h('h2', { text: 'Program' }),
        program,
        h('h2', { text: 'Verdicts' }),
        h('table', { class: 'rv-verdicts' }, [
          h('thead', {}, [
            h('tr', {}, [
              h('th', { text: 'reward' }),
              h('th', { text: 'judge' }),
              h('th', { text: it.verdicts.some((v) => v.second !== undefined) ? '2nd judge' : '' }),
              h('th', { text: 'you' }),
              h('th', { text: 'rationale' }),
            ]),
          ]),
          h('tbody', {}, rows),
        ]),
        this.note,
      ]),
    ]);
    this.renderStats();
  }

  private renderStats(): void {
    const m = this.current;
    if (!m) return;
    const anySecond = m.stats.agreement.some((a) => a.second !== undefined);
    const kappaText = (k: { kappa: number | null; lo: number | null; hi: number | null }): string => (k.kappa === null ? '–' : `${fmt(k.kappa)} [${fmt(k.lo)}, ${fmt(k.hi)}]`);
    const rows = m.stats.agreement.map((a) =>
      h('tr', { attrs: { 'data-reward': a.reward, 'data-n': a.n, 'data-kappa': a.kappa === null ? 'none' : a.kappa.toFixed(4) } }, [
        h('th', { text: a.reward, attrs: { scope: 'row' } }),
        h('td', { text: String(a.n) }),
        h('td', { text: a.agreement === null ? '–' : `${(a.agreement * 100).toFixed(0)}%` }),
        h('td', { class: 'rv-kappa', text: kappaText(a), title: a.note ?? '' }),
        anySecond ? h('td', { class: 'rv-kappa-second', text: a.second ? `${kappaText(a.second)} (n=${a.second.n})` : '–' }) : null,
      ]),
    );
    setChildren(this.statsEl, [
      h('table', { class: 'rv-agreement' }, [
        h('thead', {}, [
          h('tr', {}, [
            h('th', { text: 'reward' }),
            h('th', { text: 'compared' }),
            h('th', { text: 'agreement' }),
            h('th', { text: "judge vs you: Cohen's κ [95% CI]" }),
            anySecond ? h('th', { text: '2nd judge vs you' }) : null,
          ]),
        ]),
        h('tbody', {}, rows),
      ]),
    ]);
  }
}
