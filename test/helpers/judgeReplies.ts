/**
 * Helpers for tests of the reward judges against the OpenAI-compatible test server: which judge
 * a recorded request belongs to, and realistic sample replies.
 */
import type { RecordedRequest } from './openaiServer.js';

export type JudgeName = 'spatial' | 'attribute' | 'logic' | 'adherence';

const TITLES: Record<JudgeName, string> = {
  spatial: 'spatial reasoning',
  attribute: 'measured attributes',
  logic: 'logical soundness',
  adherence: 'adherence of the program to the plan',
};

/** The judge a chat request was sent for, read from its system message. */
export function judgeOf(req: RecordedRequest): JudgeName | undefined {
  const sys: unknown = req.json?.messages?.[0]?.content;
  if (typeof sys !== 'string') return undefined;
  return (Object.keys(TITLES) as JudgeName[]).find((k) => sys.includes(`one property of model output: ${TITLES[k]}.`));
}

export const jsonVerdict = (score: number, rationale = 'The plan handles it.'): string => JSON.stringify({ rationale, score });

export const GOOD_REPLY = `<plan>
1. Detect the mug and the laptop with gd_detect(img_pth, "mug, laptop").
2. If either is missing, ask vqa on the whole image whether the mug is left of the laptop.
3. Compare the x centres of the two boxes: the mug is left when its centre x is smaller.
4. Answer "yes" or "no".
</plan>
<answer>
\`\`\`python
dets = gd_detect(img_pth, "mug, laptop")
mugs = [d for d in dets if d["label"] == "mug"]
laptops = [d for d in dets if d["label"] == "laptop"]
if not mugs or not laptops:
    final_answer = vqa(img_pth, None, "Is the mug left of the laptop? Answer yes or no.")
    return
m = mugs[0]["bbox"]
l = laptops[0]["bbox"]
final_answer = "yes" if (m[0] + m[2]) / 2 < (l[0] + l[2]) / 2 else "no"
\`\`\`
</answer>`;

export const GOOD_QUERY = 'Is the mug to the left of the laptop?';
