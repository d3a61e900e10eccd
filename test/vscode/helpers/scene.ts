/**
 * The world around the workbench in the suite: a test workspace (the example image and
 * documents, absolute model paths in its settings), and the project's scripted
 * OpenAI-compatible server answering as generator, judges and vision model.
 */
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { judgeOf, jsonVerdict } from '../../helpers/judgeReplies.js';
import type { RecordedRequest, Reply } from '../../helpers/openaiServer.js';
import { ROOT } from './workbench.js';

/** The reply the generator streams for a new query (the example's plan and program). */
export const GENERATED_REPLY = `<plan>
1. Detect red boxes with gd_detect(img_pth, "red box") and blue circles with gd_detect(img_pth, "blue circle").
2. If either list is empty, ask vqa on the whole image and answer with its yes or no.
3. Compare the x coordinates of the two box centres: left is the smaller x.
</plan>
<answer>
boxes = gd_detect(img_pth, "red box")
circles = gd_detect(img_pth, "blue circle")
if len(boxes) == 0 or len(circles) == 0:
    reply = vqa(img_pth, None, "Is the red box to the left of the blue circle? Answer yes or no.")
    final_answer = "yes" if "yes" in reply else "no"
    return
final_answer = "yes" if boxes[0]["bbox"][0] < circles[0]["bbox"][0] else "no"
</answer>`;

/** A document whose program fails at run time on document line 11 (program line 3). */
export const BROKEN_DOC = `# image: desk.png
# query: How many red boxes are there?

<plan>
1. Detect red boxes.
2. Count them.
</plan>
<answer>
boxes = gd_detect(img_pth, "red box")
count = len(boxes)
final_answer = count / (count - count)
</answer>
`;
export const BROKEN_LINE = 11;

/** A program whose only tool call is VQA (the suite kills the tool server while it serves it). */
export const VQA_DOC = `# image: desk.png
# query: What colour is the box?

<plan>
1. Ask vqa about the whole image.
</plan>
<answer>
final_answer = vqa(img_pth, None, "What colour is the box?")
</answer>
`;

/**
 * A program whose answer depends on the box threshold (scenario 13): at the program's threshold
 * the fixture detector keeps one of its two red-box candidates, below the second one's score both.
 */
export const COUNT_DOC = `# image: desk.png
# query: Are there two red boxes?

<plan>
1. Detect red boxes with gd_detect.
2. Answer "two" if it found two, else "not two".
</plan>
<answer>
boxes = gd_detect(img_pth, "red box")
final_answer = "two" if len(boxes) == 2 else "not two"
</answer>
`;

export const RATIONALE = 'Every relation is resolved with box coordinates.';

/**
 * A document two judges fail, citing what they fail on (scenario 11): spatial cites plan step 2
 * (document line 6), adherence cites program line 3 (document line 11).
 */
export const CITED_DOC = `# image: desk.png
# query: Is the red box above the blue circle?

<plan>
1. Detect red boxes and blue circles with gd_detect.
2. Compare the x coordinates of the two boxes to decide above.
</plan>
<answer>
boxes = gd_detect(img_pth, "red box")
circles = gd_detect(img_pth, "blue circle")
final_answer = "yes" if boxes[0]["bbox"][0] < circles[0]["bbox"][0] else "no"
</answer>
`;
export const CITED_PLAN_LINE_TEXT = '2. Compare the x coordinates of the two boxes to decide above.';
export const CITED_PROGRAM_LINE_TEXT = 'final_answer = "yes" if boxes[0]["bbox"][0] < circles[0]["bbox"][0] else "no"';

/** The judges' verdicts on CITED_DOC: spatial and adherence fail with cites, the others pass. */
function citedVerdict(req: RecordedRequest): string | undefined {
  const user: unknown = req.json?.messages?.[1]?.content;
  if (typeof user !== 'string' || !user.includes('to decide above.')) return undefined;
  const j = judgeOf(req);
  if (j === 'spatial') return JSON.stringify({ rationale: 'Step 2 decides above with x coordinates.', score: 0, cites: { plan_steps: [2] } });
  if (j === 'adherence') return JSON.stringify({ rationale: 'Line 3 compares x where the plan needs y.', score: 0, cites: { plan_steps: [2], program_lines: [3] } });
  return JSON.stringify({ rationale: RATIONALE, score: 1, cites: { plan_steps: [1] } });
}

/** Numbers of the boxes a grounding-verifier request lists (`0: ...` lines). */
function listed(req: RecordedRequest): number[] {
  const content: unknown = req.json?.messages?.[1]?.content;
  const parts = Array.isArray(content) ? (content as Array<{ text?: string }>) : [{ text: String(content ?? '') }];
  return [...parts.map((p) => p.text ?? '').join('\n').matchAll(/^(\d+): /gm)].map((m) => Number(m[1]));
}

/** Whether a request is a VQA call (forwarded by the tool server): none of the other roles. */
export function isVqa(req: RecordedRequest): boolean {
  const first: unknown = req.json?.messages?.[0]?.content;
  return !req.stream && !judgeOf(req) && !(typeof first === 'string' && first.startsWith('You '));
}

/** Answers every role: grounding verifier stages, the four judges, VQA, and the generator (streamed). */
export function answer(req: RecordedRequest): Reply {
  const first: unknown = req.json?.messages?.[0]?.content;
  const sys = typeof first === 'string' ? first : '';
  if (sys.startsWith('You review object detections')) return { text: JSON.stringify({ keep: listed(req), drop: [] }) };
  if (sys.startsWith('You check one detection')) return { text: JSON.stringify({ keep: true, reason: 'a clear object' }) };
  if (/duplicate/i.test(sys) && sys.startsWith('You')) {
    const ns = listed(req);
    return { text: JSON.stringify({ keep: ns, drop: [] }) };
  }
  if (judgeOf(req)) return { text: citedVerdict(req) ?? jsonVerdict(1, RATIONALE) };
  if (req.stream) {
    const chunks = GENERATED_REPLY.match(/[\s\S]{1,24}/g) ?? [GENERATED_REPLY];
    return { delayMs: 50, then: { text: GENERATED_REPLY, chunks } };
  }
  return { text: 'yes' };
}

/** A fresh workspace: desk.png, desk.vprog, broken.vprog, colour.vprog, cited.vprog, .vscode/settings.json with absolute model paths. */
export function makeWorkspace(dir: string): string {
  mkdirSync(join(dir, '.vscode'), { recursive: true });
  copyFileSync(join(ROOT, 'examples', 'desk.png'), join(dir, 'desk.png'));
  copyFileSync(join(ROOT, 'examples', 'desk.vprog'), join(dir, 'desk.vprog'));
  copyFileSync(join(ROOT, 'examples', 'desk.png'), join(dir, 'shelf.png'));
  writeFileSync(join(dir, 'broken.vprog'), BROKEN_DOC);
  writeFileSync(join(dir, 'colour.vprog'), VQA_DOC);
  writeFileSync(join(dir, 'cited.vprog'), CITED_DOC);
  // Absolute: a copied examples/models would hold relative symlinks that point nowhere.
  writeFileSync(
    join(dir, '.vscode', 'settings.json'),
    JSON.stringify({ 'valor.toolServer.modelsPath': modelsDir(dir) }, null, 2),
  );
  return dir;
}

/** A models folder for the embedded server: absolute links to the fixture models. */
function modelsDir(ws: string): string {
  const dir = join(ws, '..', 'models');
  mkdirSync(dir, { recursive: true });
  for (const [name, fixture] of [
    ['grounding-dino', 'grounding-dino-tiny'],
    ['depth', 'depth-anything-tiny'],
  ] as const) {
    const link = join(dir, name);
    if (!existsSync(link)) symlinkSync(join(ROOT, 'test', 'fixtures', 'models', fixture), link);
  }
  return dir;
}

/** User settings: the scripted endpoints, a quiet workbench, and the theme. */
export function userSettings(llmUrl: string, theme: 'dark' | 'light' = 'dark'): Record<string, unknown> {
  return {
    'valor.generator.baseUrl': llmUrl,
    'valor.generator.model': 'policy-test',
    'valor.judge.baseUrl': llmUrl,
    'valor.judge.model': 'judge-test',
    'valor.vision.baseUrl': llmUrl,
    'valor.vision.model': 'vision-test',
    'valor.cache.enabled': false,
    'workbench.colorTheme': theme === 'dark' ? 'Default Dark Modern' : 'Default Light Modern',
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'chat.disableAIFeatures': true,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'editor.minimap.enabled': false,
    'security.workspace.trust.startupPrompt': 'never',
    'security.workspace.trust.banner': 'always',
    'files.autoSave': 'off',
  };
}
