// An override record for tests: a reward verdict of subject s1 (logic, 1 over the machine's 0), changed by `p`.
import type { Override } from '../../src/protocol/run.js';

export const ov = (p: Partial<Override>): Override => ({
  kind: 'reward',
  subject: 's1',
  target: 'logic',
  value: 1,
  machine_value: 0,
  note: 'n',
  at: '2026-01-01T00:00:00.000Z',
  ...p,
});
