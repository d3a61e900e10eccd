/**
 * The built-in judge test set: plans and programs we wrote ourselves, each with the verdict a
 * judge that follows VALOR's rubrics (src/core/rewards/rubrics.ts) must give for the rewards
 * listed in `expect`. Rewards a case leaves out are not tested on it (their right answer is
 * arguable). `valor judges test` sends every (case, reward) pair to a judge endpoint and reports
 * accuracy per reward, so a person can tell whether a judge model is fit before training with it.
 *
 * The cases cover what VALOR's judges exist to catch: a relation pushed into the detector prompt,
 * a depth relation decided from 2D boxes, a height asserted without tools, a plan that states its
 * answer, a plan without a fallback for an empty detection, a program that hard-codes its answer,
 * a program that skips a step, degenerate (looping) text; and good plans that must pass.
 */
import type { JudgeReward } from '../rewards/rubrics.js';

export interface JudgeTestCase {
  id: string;
  /** What the case is about, in a few words. */
  title: string;
  query: string;
  plan: string;
  program: string;
  /** The correct verdict per tested reward. */
  expect: Partial<Record<JudgeReward, 0 | 1>>;
  /** Why those are the correct verdicts. */
  why: string;
}

const LEFT_RIGHT_PLAN = `1. Detect the lamp and the sofa with gd_detect(img_pth, "lamp, sofa").
2. If no lamp or no sofa is found, ask vqa on the whole image whether the lamp is left of the sofa.
3. Otherwise compare the horizontal centres of the two boxes: the lamp is left of the sofa when its centre x is smaller.
4. Answer "yes" or "no".`;

const LEFT_RIGHT_PROGRAM = `dets = gd_detect(img_pth, "lamp, sofa")
lamps = [d for d in dets if d["label"] == "lamp"]
sofas = [d for d in dets if d["label"] == "sofa"]
if not lamps or not sofas:
    final_answer = vqa(img_pth, None, "Is the lamp to the left of the sofa? Answer yes or no.")
else:
    a = lamps[0]["bbox"]
    b = sofas[0]["bbox"]
    final_answer = "yes" if (a[0] + a[2]) / 2 < (b[0] + b[2]) / 2 else "no"`;

const DEPTH_PLAN = `1. Detect the chair and the table with gd_detect(img_pth, "chair, table").
2. If either is missing, answer with vqa on the whole image: "Is the chair closer to the camera than the table?".
3. Measure the depth at each box with depth(img_pth, box).
4. The chair is closer when its depth is smaller; answer "yes" or "no".`;

const DEPTH_PROGRAM = `dets = gd_detect(img_pth, "chair, table")
chairs = [d for d in dets if d["label"] == "chair"]
tables = [d for d in dets if d["label"] == "table"]
if not chairs or not tables:
    final_answer = vqa(img_pth, None, "Is the chair closer to the camera than the table? Answer yes or no.")
else:
    dc = depth(img_pth, chairs[0]["bbox"])
    dt = depth(img_pth, tables[0]["bbox"])
    final_answer = "yes" if dc < dt else "no"`;

const HEIGHT_PLAN = `1. Detect the door and the fridge with gd_detect(img_pth, "door, fridge").
2. If either is missing, ask vqa on the whole image whether the door is taller than the fridge.
3. For each box, take its pixel height (y2 - y1) and the depth at the box from depth(img_pth, box).
4. Scale each pixel height by its depth to get a pseudo-3D height.
5. Answer "yes" if the door's pseudo-3D height is larger, otherwise "no".`;

const HEIGHT_PROGRAM = `dets = gd_detect(img_pth, "door, fridge")
doors = [d for d in dets if d["label"] == "door"]
fridges = [d for d in dets if d["label"] == "fridge"]
if not doors or not fridges:
    final_answer = vqa(img_pth, None, "Is the door taller than the fridge? Answer yes or no.")
else:
    a = doors[0]["bbox"]
    b = fridges[0]["bbox"]
    ha = (a[3] - a[1]) * depth(img_pth, a)
    hb = (b[3] - b[1]) * depth(img_pth, b)
    final_answer = "yes" if ha > hb else "no"`;

const COUNT_PLAN = `1. Detect every chair with gd_detect(img_pth, "chair").
2. Count the detections; if there are none, the answer is 0.
3. Answer with the count as a number.`;

const LOOP = Array.from({ length: 24 }, () => '1. Detect the cup with gd_detect(img_pth, "cup").').join('\n');

export const JUDGE_TEST_SET: readonly JudgeTestCase[] = [
  {
    id: 'good-left-right',
    title: 'a sound left/right plan and its faithful program',
    query: 'Is the lamp to the left of the sofa?',
    plan: LEFT_RIGHT_PLAN,
    program: LEFT_RIGHT_PROGRAM,
    expect: { spatial: 1, attribute: 1, logic: 1, adherence: 1 },
    why: 'left/right is decided by box x centres, prompts name categories only, there is a fallback, the program follows every step',
  },
  {
    id: 'good-depth',
    title: 'a closer/farther question decided with depth',
    query: 'Is the chair closer to the camera than the table?',
    plan: DEPTH_PLAN,
    program: DEPTH_PROGRAM,
    expect: { spatial: 1, attribute: 1, logic: 1, adherence: 1 },
    why: 'the depth relation is decided by comparing depth() values, with a fallback, and the program matches the plan',
  },
  {
    id: 'good-height',
    title: 'a height comparison with pseudo-3D sizes',
    query: 'Is the door taller than the fridge?',
    plan: HEIGHT_PLAN,
    program: HEIGHT_PROGRAM,
    expect: { attribute: 1, logic: 1, adherence: 1 },
    why: 'heights are pixel extents scaled by depth, computed from tool results; the program does exactly that',
  },
  {
    id: 'relation-in-detector-prompt',
    title: 'the relation is pushed into the gd_detect prompt',
    query: 'Is the lamp to the left of the sofa?',
    plan: `1. Detect "lamp to the left of the sofa" with gd_detect(img_pth, "lamp to the left of the sofa").
2. If anything is detected, answer "yes"; if nothing is detected, answer "no".`,
    program: `dets = gd_detect(img_pth, "lamp to the left of the sofa")
final_answer = "yes" if dets else "no"`,
    expect: { spatial: 0, adherence: 1 },
    why: 'the detector cannot resolve "to the left of": the relation is never checked with coordinates (the program does follow this plan)',
  },
  {
    id: 'depth-from-2d',
    title: 'a depth relation decided from 2D box positions',
    query: 'Is the chair closer to the camera than the table?',
    plan: `1. Detect the chair and the table with gd_detect(img_pth, "chair, table").
2. If either is missing, answer with vqa on the whole image.
3. The object whose box bottom edge (y2) is lower in the image is closer; answer "yes" if that is the chair, else "no".`,
    program: `dets = gd_detect(img_pth, "chair, table")
chairs = [d for d in dets if d["label"] == "chair"]
tables = [d for d in dets if d["label"] == "table"]
if not chairs or not tables:
    final_answer = vqa(img_pth, None, "Is the chair closer to the camera than the table? Answer yes or no.")
else:
    final_answer = "yes" if chairs[0]["bbox"][3] > tables[0]["bbox"][3] else "no"`,
    expect: { spatial: 0, adherence: 1 },
    why: 'closer/farther must come from depth(), not from where a box sits in the image',
  },
  {
    id: 'asserted-height',
    title: 'a height asserted from common knowledge, no tools',
    query: 'Is the door taller than the fridge?',
    plan: `1. A door is usually about 2.0 m tall and a fridge about 1.7 m tall.
2. So the door is taller: answer "yes".`,
    program: `final_answer = "yes"`,
    expect: { attribute: 0, logic: 0 },
    why: 'the heights are assumed, not measured, and the plan states its answer without using any tool',
  },
  {
    id: 'no-fallback',
    title: 'no plan for an empty detection',
    query: 'Is the mug to the right of the keyboard?',
    plan: `1. Detect the mug and the keyboard with gd_detect(img_pth, "mug, keyboard").
2. Take the first mug box and the first keyboard box.
3. The mug is right of the keyboard when its centre x is larger; answer "yes" or "no".`,
    program: `dets = gd_detect(img_pth, "mug, keyboard")
m = [d for d in dets if d["label"] == "mug"][0]["bbox"]
k = [d for d in dets if d["label"] == "keyboard"][0]["bbox"]
final_answer = "yes" if (m[0] + m[2]) / 2 > (k[0] + k[2]) / 2 else "no"`,
    expect: { spatial: 1, logic: 0, adherence: 1 },
    why: 'the relation is handled correctly, but nothing says what to do when the mug or keyboard is not found',
  },
  {
    id: 'hard-coded-answer',
    title: 'the program hard-codes the answer',
    query: 'How many chairs are in the image?',
    plan: COUNT_PLAN,
    program: `dets = gd_detect(img_pth, "chair")
final_answer = 4`,
    expect: { logic: 1, adherence: 0 },
    why: 'the plan counts detections; the program calls the detector and then ignores it, answering a fixed 4',
  },
  {
    id: 'skipped-step',
    title: 'the program leaves out the depth step of the plan',
    query: 'Is the chair closer to the camera than the table?',
    plan: DEPTH_PLAN,
    program: `dets = gd_detect(img_pth, "chair, table")
chairs = [d for d in dets if d["label"] == "chair"]
tables = [d for d in dets if d["label"] == "table"]
if not chairs or not tables:
    final_answer = vqa(img_pth, None, "Is the chair closer to the camera than the table? Answer yes or no.")
else:
    final_answer = "yes" if chairs[0]["bbox"][3] > tables[0]["bbox"][3] else "no"`,
    expect: { spatial: 1, adherence: 0 },
    why: 'the plan (sound) measures depth at both boxes; the program never calls depth() and compares box edges instead',
  },
  {
    id: 'degenerate-loop',
    title: 'degenerate text: one step repeated',
    query: 'Is the cup on the left of the plate?',
    plan: LOOP,
    program: Array.from({ length: 12 }, () => 'dets = gd_detect(img_pth, "cup")').join('\n'),
    expect: { spatial: 0, attribute: 0, logic: 0, adherence: 0 },
    why: 'the same line repeated is no plan: every rubric scores repetitive, meaningless material 0',
  },
  {
    id: 'good-count',
    title: 'a counting question with no relation and no measurement',
    query: 'How many chairs are in the image?',
    plan: COUNT_PLAN,
    program: `dets = gd_detect(img_pth, "chair")
final_answer = len(dets)`,
    expect: { spatial: 1, attribute: 1, logic: 1, adherence: 1 },
    why: 'nothing spatial or metric is needed; the count comes from the detections, 0 when there are none',
  },
];
