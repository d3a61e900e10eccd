/** The plan the model wrote, as text. */
import { h, setChildren } from '../dom.js';
import type { Panel } from '../panelSlot.js';

export interface PlanInputs {
  plan: string | null | undefined;
}

export class PlanPanel implements Panel<PlanInputs> {
  readonly el = h('div', { class: 'plan' });

  render(i: PlanInputs): void {
    setChildren(this.el, [i.plan ? h('pre', { class: 'plan-text', text: i.plan }) : h('div', { class: 'muted', text: 'No plan in the reply.' })]);
  }
}
