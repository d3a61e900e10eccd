// The generation prompt: its examples are well-formed replies whose programs call only the three
// tools, with the documented parameter names (checked by Python's own parser, in a real python3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { VALOR_SAMPLING } from '../../src/core/chat.js';
import { buildGenerationMessages, GENERATION_DEFAULTS, GENERATION_SYSTEM_PROMPT, PROMPT_EXAMPLES, TOOL_SIGNATURES } from '../../src/core/prompt.js';
import { parseReply } from '../../src/core/reply.js';

interface CallInfo {
  name: string;
  positional: number;
  keywords: string[];
  line: number;
}
interface Analysis {
  ok: boolean;
  error?: string;
  calls: CallInfo[];
  assigns_img_pth: boolean;
  sets_final_answer: boolean;
  imports: string[];
}

// Wraps the body in a function (as the runner does, so bare `return` is legal) and lists every
// call of a plain name, with its argument shape.
const ANALYSE = String.raw`
import ast, json, sys, textwrap
src = sys.stdin.read()
wrapped = "def __program__():\n" + textwrap.indent(src, "    ") + "\n"
out = {"ok": True, "calls": [], "assigns_img_pth": False, "sets_final_answer": False, "imports": []}
try:
    tree = ast.parse(wrapped)
except SyntaxError as e:
    print(json.dumps({"ok": False, "error": str(e), "calls": [], "assigns_img_pth": False, "sets_final_answer": False, "imports": []}))
    sys.exit(0)
for node in ast.walk(tree):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        out["calls"].append({"name": node.func.id, "positional": len(node.args), "keywords": [k.arg for k in node.keywords], "line": node.lineno - 1})
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        if node.id == "img_pth": out["assigns_img_pth"] = True
        if node.id == "final_answer": out["sets_final_answer"] = True
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        out["imports"].append(ast.dump(node))
print(json.dumps(out))
`;

function analyse(program: string): Analysis {
  const r = spawnSync('python3', ['-c', ANALYSE], { input: program, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Analysis;
}

const BUILTINS = new Set(['len', 'max', 'min', 'int', 'float', 'str', 'abs', 'sorted', 'sum', 'range', 'enumerate', 'round', 'list', 'zip', 'any', 'all']);

test('there are 3-4 worked examples, each a format-1 reply with no diagnostics', () => {
  assert.ok(PROMPT_EXAMPLES.length >= 3 && PROMPT_EXAMPLES.length <= 4);
  for (const ex of PROMPT_EXAMPLES) {
    const r = parseReply(ex.reply);
    assert.equal(r.format.score, 1, ex.query);
    assert.deepEqual(r.format.diagnostics, [], ex.query);
    assert.ok(r.plan && /^1\. /.test(r.plan), 'the plan is numbered');
    assert.ok(r.program && r.program.length > 0);
    assert.ok(GENERATION_SYSTEM_PROMPT.includes(`Question: ${ex.query}`));
    assert.ok(GENERATION_SYSTEM_PROMPT.includes(ex.reply));
  }
});

test('example programs call only the three tools (with their documented parameters) and safe builtins', () => {
  const toolNames = Object.keys(TOOL_SIGNATURES);
  const used = new Set<string>();
  for (const ex of PROMPT_EXAMPLES) {
    const program = parseReply(ex.reply).program!;
    const a = analyse(program);
    assert.ok(a.ok, `${ex.query}: ${a.error}`);
    assert.equal(a.assigns_img_pth, false, `${ex.query} reassigns img_pth`);
    assert.equal(a.sets_final_answer, true, `${ex.query} never sets final_answer`);
    assert.deepEqual(a.imports, [], `${ex.query} imports something`);
    for (const c of a.calls) {
      if (toolNames.includes(c.name)) {
        const params = TOOL_SIGNATURES[c.name as keyof typeof TOOL_SIGNATURES].params as readonly string[];
        used.add(c.name);
        assert.equal(c.positional + c.keywords.length, params.length, `${ex.query}: ${c.name} at program line ${c.line} takes ${params.join(', ')}`);
        for (const k of c.keywords) assert.ok(params.slice(c.positional).includes(k), `${ex.query}: ${c.name}(${k}=...) is not a documented parameter`);
      } else {
        assert.ok(BUILTINS.has(c.name), `${ex.query}: calls ${c.name}() at program line ${c.line}, which is neither a tool nor a plain builtin`);
      }
    }
  }
  assert.deepEqual([...used].sort(), [...toolNames].sort(), 'the examples show every tool');
});

test('detector prompts in the examples name objects only (no relations pushed into them)', () => {
  const relation = /\b(left|right|above|below|behind|front|closer|farther|nearest|rightmost|leftmost|next to|between|in the)\b/i;
  for (const ex of PROMPT_EXAMPLES) {
    for (const m of ex.reply.matchAll(/gd_detect\(img_pth, "([^"]*)"\)/g)) {
      assert.ok(!relation.test(m[1]!), `${ex.query}: detector prompt "${m[1]}" carries a relation`);
    }
  }
});

test('the prompt documents each tool with its exact signature and the return shapes', () => {
  for (const [name, sig] of Object.entries(TOOL_SIGNATURES)) {
    assert.ok(GENERATION_SYSTEM_PROMPT.includes(`${name}(${sig.params.join(', ')})`), name);
  }
  assert.ok(GENERATION_SYSTEM_PROMPT.includes('{"bbox": [x1, y1, x2, y2], "label"'));
  assert.match(GENERATION_SYSTEM_PROMPT, /"score"/);
  for (const word of ['img_pth', 'final_answer', 'return', 'np', 'math', 'depth', 'None', '<plan>', '<answer>']) {
    assert.ok(GENERATION_SYSTEM_PROMPT.includes(word), word);
  }
});

test('buildGenerationMessages: one user message, system prompt + blank line + "Question: <query>"', () => {
  const msgs = buildGenerationMessages('  Is the cat on the sofa?\n');
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.role, 'user');
  assert.equal(msgs[0]!.content, `${GENERATION_SYSTEM_PROMPT}\n\nQuestion: Is the cat on the sofa?`);
  assert.deepEqual(GENERATION_DEFAULTS, VALOR_SAMPLING);
  assert.equal(GENERATION_DEFAULTS.temperature, 0.7);
  assert.equal(GENERATION_DEFAULTS.top_k, 20);
});
