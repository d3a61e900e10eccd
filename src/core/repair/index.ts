/**
 * Repair of failed programs (issue #15, docs/debugger.md "Repair"): why a run needs repair
 * (./failure.ts), the repair prompt (./repairPrompt.ts), one proposal from the generator
 * (./propose.ts), the run-check-repair loop (./loop.ts) and the line diff shown for a proposal
 * (./lineDiff.ts).
 */
export { failureOf, needsRepair, NO_FAILURE, NOT_REPAIRABLE_ERRORS, type Failure, type FailureKind } from './failure.js';
export { describeFailure, repairMessage, repairMessages, REPAIR_INSTRUCTIONS, REPAIR_PROMPT, type FailedTurn } from './repairPrompt.js';
export { proposeRepair, RepairParseError, type RepairDeps, type RepairInput, type RepairProposal } from './propose.js';
export { repairLoop, type RepairAttempt, type RepairLoopDeps, type RepairLoopResult, type RepairLoopStart } from './loop.js';
export { diffStats, formatLineDiff, lineDiff, newSide, oldSide, type DiffLine, type DiffOp } from './lineDiff.js';
