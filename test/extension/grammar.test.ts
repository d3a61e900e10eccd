/**
 * The .vprog TextMate grammar, tokenized with the same engine VS Code uses (vscode-textmate on
 * vscode-oniguruma's WebAssembly build), so the scopes asserted here are the ones themes see.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as oniguruma from 'vscode-oniguruma';
import * as textmate from 'vscode-textmate';

const ROOT = join(__dirname, '..', '..');
const grammarJson = (name: string) => readFileSync(join(ROOT, 'syntaxes', name), 'utf8');

let onigReady: Promise<void> | undefined;
function loadOnig(): Promise<void> {
  onigReady ??= (async () => {
    const wasm = readFileSync(join(ROOT, 'node_modules', 'vscode-oniguruma', 'release', 'onig.wasm'));
    await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  })();
  return onigReady;
}

/**
 * A tiny stand-in for VS Code's Python grammar: it opens a nested scope for call arguments, the
 * way the real one does, so we can check that tool calls are marked inside nested calls too.
 */
const FAKE_PYTHON = JSON.stringify({
  scopeName: 'source.python',
  patterns: [
    { match: '#.*$', name: 'comment.line.number-sign.python' },
    { match: '"[^"]*"', name: 'string.quoted.double.python' },
    {
      begin: '\\b([A-Za-z_]\\w*)\\s*(\\()',
      beginCaptures: { 1: { name: 'entity.name.function.python' }, 2: { name: 'punctuation.definition.arguments.begin.python' } },
      end: '\\)',
      name: 'meta.function-call.python',
      patterns: [{ include: '$self' }],
    },
  ],
});

async function makeRegistry(withPython: boolean): Promise<textmate.Registry> {
  await loadOnig();
  return new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources: string[]) => new oniguruma.OnigScanner(sources),
      createOnigString: (s: string) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName: string) => {
      const file =
        scopeName === 'source.vprog'
          ? { text: grammarJson('vprog.tmLanguage.json'), path: 'vprog.tmLanguage.json' }
          : scopeName === 'source.vprog.tools-injection'
            ? { text: grammarJson('vprog-tools.injection.tmLanguage.json'), path: 'inj.tmLanguage.json' }
            : scopeName === 'source.python' && withPython
              ? { text: FAKE_PYTHON, path: 'python.tmLanguage.json' }
              : undefined;
      // Unknown grammars (source.python in VS Code's absence) are simply not available.
      return file ? textmate.parseRawGrammar(file.text, file.path) : null;
    },
    getInjections: (scopeName: string) => (scopeName === 'source.vprog' ? ['source.vprog.tools-injection'] : undefined),
  });
}

interface Tok {
  line: number;
  text: string;
  scopes: string[];
}

async function tokenize(doc: string, withPython = false): Promise<Tok[]> {
  const registry = await makeRegistry(withPython);
  const grammar = await registry.loadGrammar('source.vprog');
  assert.ok(grammar, 'the grammar loads');
  const out: Tok[] = [];
  let state = textmate.INITIAL;
  doc.split(/\r?\n/).forEach((lineText, line) => {
    const r = grammar.tokenizeLine(lineText, state);
    for (const t of r.tokens) out.push({ line, text: lineText.slice(t.startIndex, t.endIndex), scopes: t.scopes });
    state = r.ruleStack;
  });
  return out;
}

/** The scopes of the first token whose text is `text` (on `line` when given). */
function scopesOf(toks: Tok[], text: string, line?: number): string[] {
  const t = toks.find((x) => x.text === text && (line === undefined || x.line === line));
  assert.ok(t, `token ${JSON.stringify(text)}${line === undefined ? '' : ` on line ${line}`} exists; tokens: ${JSON.stringify(toks.map((x) => x.text))}`);
  return t.scopes;
}

const SAMPLE = [
  '# image: images/kitchen.jpg',
  '# query: Is the red mug to the left of the laptop?',
  '',
  '<plan>',
  '1. Detect the red mug and the laptop with gd_detect(img_pth, "red mug, laptop").',
  '2) If either list is empty, answer with vqa on the whole image.',
  '3. Compare the x centres: left means a smaller x.',
  '</plan>',
  '<answer>',
  '```python',
  'mugs = gd_detect(img_pth, "red mug")',
  'laptops = gd_detect(img_pth, "laptop")',
  'if not mugs or not laptops:',
  '    final_answer = vqa(img_pth, None, "Is the red mug left of the laptop? yes or no")',
  '    return',
  'd = max(depth(img_pth, m["bbox"]) for m in mugs)  # nearest',
  'final_answer = "yes" if mugs[0]["bbox"][0] < laptops[0]["bbox"][0] else "no"',
  '```',
  '</answer>',
].join('\n');

test('header keys and values get their own scopes', async () => {
  const toks = await tokenize(SAMPLE);
  assert.ok(scopesOf(toks, 'image', 0).includes('keyword.other.header-key.vprog'));
  assert.ok(scopesOf(toks, 'images/kitchen.jpg', 0).includes('string.unquoted.header-value.path.vprog'));
  assert.ok(scopesOf(toks, 'images/kitchen.jpg', 0).includes('meta.header.image.vprog'));
  assert.ok(scopesOf(toks, 'query', 1).includes('keyword.other.header-key.vprog'));
  assert.ok(scopesOf(toks, 'Is the red mug to the left of the laptop?', 1).includes('string.unquoted.header-value.query.vprog'));
  assert.ok(scopesOf(toks, '#', 0).includes('punctuation.definition.header.vprog'));
});

test('plan tags, numbered steps and tools named in the plan', async () => {
  const toks = await tokenize(SAMPLE);
  assert.ok(scopesOf(toks, 'plan', 3).includes('entity.name.tag.plan.vprog'));
  assert.deepEqual(scopesOf(toks, '1', 4).slice(-2), ['markup.list.numbered.step.vprog', 'constant.numeric.step-number.vprog']);
  assert.ok(scopesOf(toks, '2', 5).includes('constant.numeric.step-number.vprog'), '`2)` is a step too');
  assert.ok(scopesOf(toks, 'gd_detect', 4).includes('support.function.tool.valor'));
  assert.ok(scopesOf(toks, 'gd_detect', 4).includes('meta.plan.vprog'));
  // "vqa on the whole image" is prose, not a call: not marked.
  const vqaProse = toks.find((t) => t.line === 5 && t.text.includes('vqa'));
  assert.ok(vqaProse && !vqaProse.scopes.includes('support.function.tool.valor'));
  // A numeral in the middle of a step is not a step number.
  const x = toks.find((t) => t.line === 6 && t.text.includes('x centres'));
  assert.ok(x && !x.scopes.includes('constant.numeric.step-number.vprog'));
});

test('the program is embedded Python with the three tools, img_pth and final_answer marked (no Python grammar)', async () => {
  const toks = await tokenize(SAMPLE, false);
  assert.ok(scopesOf(toks, 'answer', 8).includes('entity.name.tag.answer.vprog'));
  const mugsLine = toks.filter((t) => t.line === 10);
  assert.ok(mugsLine.every((t) => t.scopes.includes('meta.embedded.block.python')), 'every token of a program line is in the embedded block');
  assert.ok(scopesOf(toks, 'gd_detect', 10).includes('support.function.tool.valor'));
  assert.ok(scopesOf(toks, 'img_pth', 10).includes('variable.language.img-pth.valor'));
  assert.ok(scopesOf(toks, 'vqa', 13).includes('support.function.tool.valor'));
  assert.ok(scopesOf(toks, 'final_answer', 13).includes('variable.other.final-answer.valor'));
  assert.ok(scopesOf(toks, 'depth', 15).includes('support.function.tool.valor'));
  assert.ok(scopesOf(toks, '```', 9).includes('punctuation.definition.fence.vprog'));
  assert.ok(scopesOf(toks, 'python', 9).includes('entity.name.type.fence-language.vprog'));
  // The closing tag leaves the embedded block.
  assert.ok(!scopesOf(toks, 'answer', 18).includes('meta.embedded.block.python'));
  // `depth` as a plain variable name is not a tool call.
  const plain = await tokenize('<answer>\ndepth = 3\n</answer>');
  const d = plain.find((t) => t.line === 1 && t.text.startsWith('depth'));
  assert.ok(d && !d.scopes.includes('support.function.tool.valor'));
});

test('with a Python grammar present, tool calls nested inside other calls are still marked; strings and comments are not', async () => {
  const toks = await tokenize(SAMPLE, true);
  const depthTok = scopesOf(toks, 'depth', 15);
  assert.ok(depthTok.includes('meta.function-call.python'), 'depth sits inside the max(...) call scope');
  assert.ok(depthTok.includes('support.function.tool.valor'));
  assert.ok(scopesOf(toks, 'img_pth', 15).includes('variable.language.img-pth.valor'));
  assert.ok(scopesOf(toks, 'max', 15).includes('entity.name.function.python'));
  const inString = toks.find((t) => t.line === 13 && t.text.includes('Is the red mug left'));
  assert.ok(inString && inString.scopes.includes('string.quoted.double.python'));
  const comment = await tokenize('<answer>\n# call gd_detect(img_pth, "x") later\nfinal_answer = 1\n</answer>', true);
  const c = comment.filter((t) => t.line === 1);
  assert.ok(c.every((t) => !t.scopes.includes('support.function.tool.valor')), 'a tool named in a comment is not a call');
});

test('CRLF documents and one-line replies tokenize the same way', async () => {
  const crlf = await tokenize(SAMPLE.replace(/\n/g, '\r\n'));
  assert.ok(scopesOf(crlf, 'images/kitchen.jpg', 0).includes('string.unquoted.header-value.path.vprog'));
  assert.ok(scopesOf(crlf, 'gd_detect', 10).includes('support.function.tool.valor'));
  const oneLine = await tokenize('<plan>1. look</plan><answer>final_answer = vqa(img_pth, None, "q")</answer>');
  assert.ok(scopesOf(oneLine, 'vqa').includes('support.function.tool.valor'));
  assert.ok(scopesOf(oneLine, 'vqa').includes('meta.embedded.block.python'));
  const closing = oneLine.filter((t) => t.text === 'answer');
  assert.equal(closing.length, 2);
  assert.ok(!closing[1]!.scopes.includes('meta.embedded.block.python'));
});

test('a document without a header still gets plan and program scopes; other # lines are comments', async () => {
  const toks = await tokenize('# just a note\n<plan>\n1. x\n</plan>\n<answer>\nfinal_answer = 1\n</answer>');
  assert.ok(scopesOf(toks, 'final_answer', 5).includes('meta.embedded.block.python'));
  const note = toks.find((t) => t.line === 0);
  assert.ok(note && note.scopes.includes('comment.line.number-sign.vprog'));
});
