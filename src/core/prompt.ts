/**
 * The generation prompt: what the policy model reads before it writes a plan and a program.
 *
 * Written in our own words from VALOR's published facts (docs/valor.md §1-§3). The tool section states
 * exactly the signatures and return shapes the runner provides (src/protocol/tools.ts
 * TOOL_PARAMS), and the conventions are the ones the judges check, so a model that follows this
 * prompt is scored on what it was asked to do. The worked examples are real programs: a test
 * parses each with `parseReply` and checks every tool call against the signatures.
 *
 * VALOR sends the system prompt and the question as ONE user message (docs/valor.md §1); we do the same
 * so a checkpoint trained that way sees the layout it was trained on.
 */
import { VALOR_SAMPLING, type ChatMessage, type Sampling } from './chat.js';
import { TOOL_PARAMS } from '../protocol/tools.js';

/** The three tools as the program sees them; parameter names come from the runner's own definition. */
export const TOOL_SIGNATURES = {
  gd_detect: { params: TOOL_PARAMS.gd_detect, returns: 'list[dict]' },
  depth: { params: TOOL_PARAMS.depth, returns: 'float' },
  vqa: { params: TOOL_PARAMS.vqa, returns: 'str' },
} as const;

export const TOOLS_SECTION = `## Tools
Your program can call exactly these three functions. Call them with the arguments in this order.

gd_detect(img_pth, prompt) -> list of dict
    Finds objects in the image. \`prompt\` is one noun phrase naming a kind of object ("chair"),
    or several separated by commas ("cup, plate"). Returns one dict per object found:
        {"bbox": [x1, y1, x2, y2], "label": <the phrase it matched>, "score": <confidence 0-1>}
    Coordinates are whole pixels from the image's top-left corner: x grows to the right, y grows
    downwards, so (x1, y1) is the top-left and (x2, y2) the bottom-right corner of the box.
    The list comes in no particular order and can be empty.

depth(img_pth, bbox) -> float
    Distance from the camera, in metres, of the object inside \`bbox\` (a list of four numbers,
    as returned by gd_detect). A smaller value means nearer to the camera.

vqa(img_pth, bbox, prompt) -> str
    Asks a vision-language model the question \`prompt\` about the part of the image inside
    \`bbox\` (with some margin around it), or about the whole image when \`bbox\` is None.
    The answer is a short lower-case word or phrase; numbers come back as digits. Ask one simple
    question at a time, and list the allowed answers in the question when you need one of them.`;

export const CONVENTIONS_SECTION = `## How the program runs
- \`img_pth\` already holds the path of the image. Pass it to the tools; never assign to it.
- \`math\` and \`np\` (numpy) are already imported. Do not read files or use the network.
- Put the result in a variable named \`final_answer\`.
- The code runs as the body of a function, so a bare \`return\` at the top level stops early
  (set \`final_answer\` first).

## How to reason
- Detector prompts name kinds of objects only ("mug", "red mug"). Never put a relation, position
  or ordinal into a detector prompt ("mug left of the laptop", "second chair" are wrong): detect
  the objects, then decide the relation in code.
- Left / right: compare x coordinates of the boxes (e.g. their centres). Above / below: compare y
  coordinates, remembering that y grows downwards.
- In front / behind, closer / farther, nearest / farthest: compare \`depth\` values.
- Sizes (height, width, length) and distances are pseudo-3D: a box's pixel extent multiplied by
  that object's depth. Never assume a size from common knowledge and never compare raw pixel
  sizes of objects at different distances.
- When several boxes match and the question means one object, pick deliberately (for example the
  highest \`score\`) and say so in the plan.
- Every detection can come back empty. Plan for it: answer with \`vqa\` on the whole image
  (bbox None), or, for a choice between two options, choose the other option.
- Answer in the form the question needs: exactly one of the given options, a number, or
  "yes" / "no". Never answer without using the tools, and never call a question unanswerable.`;

export const FORMAT_SECTION = `## What to write
First a plan inside <plan> and </plan>: numbered steps saying which tools you call, how you
decide each relation or measurement, what you do when a detection is empty, and how the last
step gives the answer. Then the Python program that carries out exactly that plan, inside
<answer> and </answer>. Write nothing outside these two blocks, and write each block once.`;

/** One worked example: a question and a complete reply in the required format. */
export interface PromptExample {
  query: string;
  reply: string;
}

export const PROMPT_EXAMPLES: readonly PromptExample[] = Object.freeze([
  {
    query: 'Is the red mug to the left of the laptop?',
    reply: `<plan>
1. Detect mugs with gd_detect(img_pth, "mug") and laptops with gd_detect(img_pth, "laptop").
2. If either list is empty, ask vqa on the whole image whether the red mug is left of the laptop, and answer with its yes or no.
3. Keep the mugs that vqa calls red; if none is called red, keep all mugs. Take the mug and the laptop with the highest score.
4. Left/right is a 2D relation: compare the x coordinates of the two box centres.
5. Answer "yes" if the mug's centre x is smaller than the laptop's, otherwise "no".
</plan>
<answer>
mugs = gd_detect(img_pth, "mug")
laptops = gd_detect(img_pth, "laptop")
if len(mugs) == 0 or len(laptops) == 0:
    reply = vqa(img_pth, None, "Is the red mug to the left of the laptop? Answer yes or no.")
    final_answer = "yes" if "yes" in reply else "no"
    return
red_mugs = [m for m in mugs if "red" in vqa(img_pth, m["bbox"], "What colour is this mug?")]
if len(red_mugs) == 0:
    red_mugs = mugs
mug = max(red_mugs, key=lambda d: d["score"])
laptop = max(laptops, key=lambda d: d["score"])
mug_x = (mug["bbox"][0] + mug["bbox"][2]) / 2
laptop_x = (laptop["bbox"][0] + laptop["bbox"][2]) / 2
final_answer = "yes" if mug_x < laptop_x else "no"
</answer>`,
  },
  {
    query: 'How many apples are in the bowl?',
    reply: `<plan>
1. Detect apples with gd_detect(img_pth, "apple") and bowls with gd_detect(img_pth, "bowl").
2. If no bowl is found, ask vqa on the whole image how many apples are in the bowl and answer with that number (or with the number of apples detected if the reply is not a number).
3. Take the bowl with the highest score.
4. "In the bowl" is decided in 2D: count the apples whose box centre lies inside the bowl's box.
5. Answer with that count as a number.
</plan>
<answer>
apples = gd_detect(img_pth, "apple")
bowls = gd_detect(img_pth, "bowl")
if len(bowls) == 0:
    reply = vqa(img_pth, None, "How many apples are in the bowl?")
    final_answer = int(reply) if reply.isdigit() else len(apples)
    return
bowl = max(bowls, key=lambda d: d["score"])
bx1, by1, bx2, by2 = bowl["bbox"]
count = 0
for apple in apples:
    cx = (apple["bbox"][0] + apple["bbox"][2]) / 2
    cy = (apple["bbox"][1] + apple["bbox"][3]) / 2
    if bx1 <= cx <= bx2 and by1 <= cy <= by2:
        count += 1
final_answer = count
</answer>`,
  },
  {
    query: 'Which is closer to the camera, the bicycle or the bench? Options: bicycle, bench.',
    reply: `<plan>
1. Detect bicycles with gd_detect(img_pth, "bicycle") and benches with gd_detect(img_pth, "bench").
2. If neither is found, ask vqa on the whole image which one is closer, naming both options, and answer with the option it names.
3. If only one of them is found, answer the other option.
4. Otherwise take the highest-scoring bicycle and bench and measure each one's depth.
5. Closer means smaller depth: answer "bicycle" if the bicycle's depth is smaller, otherwise "bench".
</plan>
<answer>
bikes = gd_detect(img_pth, "bicycle")
benches = gd_detect(img_pth, "bench")
if len(bikes) == 0 and len(benches) == 0:
    reply = vqa(img_pth, None, "Which is closer to the camera, the bicycle or the bench? Answer bicycle or bench.")
    final_answer = "bench" if "bench" in reply else "bicycle"
    return
if len(bikes) == 0:
    final_answer = "bench"
    return
if len(benches) == 0:
    final_answer = "bicycle"
    return
bike = max(bikes, key=lambda d: d["score"])
bench = max(benches, key=lambda d: d["score"])
bike_depth = depth(img_pth, bike["bbox"])
bench_depth = depth(img_pth, bench["bbox"])
final_answer = "bicycle" if bike_depth < bench_depth else "bench"
</answer>`,
  },
  {
    query: 'Is the sofa taller than the bookshelf?',
    reply: `<plan>
1. Detect sofas with gd_detect(img_pth, "sofa") and bookshelves with gd_detect(img_pth, "bookshelf").
2. If either list is empty, ask vqa on the whole image whether the sofa is taller than the bookshelf and answer with its yes or no.
3. Take the highest-scoring sofa and bookshelf.
4. Height is a 3D size: for each, multiply the box's pixel height (y2 - y1) by its depth to get a pseudo-3D height.
5. Answer "yes" if the sofa's pseudo-3D height is larger, otherwise "no".
</plan>
<answer>
sofas = gd_detect(img_pth, "sofa")
shelves = gd_detect(img_pth, "bookshelf")
if len(sofas) == 0 or len(shelves) == 0:
    reply = vqa(img_pth, None, "Is the sofa taller than the bookshelf? Answer yes or no.")
    final_answer = "yes" if "yes" in reply else "no"
    return
sofa = max(sofas, key=lambda d: d["score"])
shelf = max(shelves, key=lambda d: d["score"])
sofa_height = (sofa["bbox"][3] - sofa["bbox"][1]) * depth(img_pth, sofa["bbox"])
shelf_height = (shelf["bbox"][3] - shelf["bbox"][1]) * depth(img_pth, shelf["bbox"])
final_answer = "yes" if sofa_height > shelf_height else "no"
</answer>`,
  },
]);

function examplesSection(): string {
  const parts = PROMPT_EXAMPLES.map((ex, i) => `### Example ${i + 1}\nQuestion: ${ex.query}\n\n${ex.reply}`);
  return `## Examples\n\n${parts.join('\n\n')}`;
}

/** The whole system prompt (role, tools, conventions, format, examples). */
export const GENERATION_SYSTEM_PROMPT = [
  `You answer questions about a single image by writing a short plan and a Python program. You cannot see the image yourself: the program looks at it through three vision tools, and running the program produces the answer.`,
  TOOLS_SECTION,
  CONVENTIONS_SECTION,
  FORMAT_SECTION,
  examplesSection(),
  `Now write the plan and the program for the question below.`,
].join('\n\n');

/** VALOR's sampling for generation (docs/valor.md §1): temperature 0.7, top_p 0.8, top_k 20, min_p 0, no thinking. */
export const GENERATION_DEFAULTS: Readonly<Sampling> = VALOR_SAMPLING;

/**
 * The messages for one generation with system text `text` (ours by default; a prompt file's, see
 * src/core/promptSource.ts): a single user message, the text, a blank line, `Question: <query>`.
 */
export function buildGenerationMessages(query: string, text: string = GENERATION_SYSTEM_PROMPT): ChatMessage[] {
  return [{ role: 'user', content: `${text}\n\nQuestion: ${query.trim()}` }];
}
