/**
 * The program inside a reply's first `<answer>` block (docs/valor.md §1): Markdown code fences
 * removed (with warnings for text around them, an unclosed fence or a second block), leading blank
 * lines and trailing whitespace dropped, and a common indentation removed. Lines are never added or
 * removed inside it, so program line N sits on reply line `start`'s line + N - 1 (see
 * `replyLines.ts`). Used by `parseReply` (reply.ts); linear in the block's length.
 */

export interface Extracted {
  program: string;
  lineCount: number;
  /** Offset in the reply where program line 1 starts. */
  start: number;
  indent: number;
  fence: { language: string } | null;
  /** `%AT%` in a message stands for the position of `at`, filled in by the caller. */
  warnings: Array<{ code: string; message: string; at: number }>;
}

export function isBlank(s: string): boolean {
  return s.trim().length === 0;
}

const FENCE_OPEN_RE = /^[ \t]*```[ \t]*([\w+.#-]*)[ \t]*\r?$/;
const FENCE_CLOSE_RE = /^[ \t]*```[ \t]*\r?$/;

/** Lines of text[from, to) with their start offsets (no newline characters). */
function linesIn(text: string, from: number, to: number): Array<{ start: number; text: string }> {
  const out: Array<{ start: number; text: string }> = [];
  let s = from;
  while (s <= to) {
    let e = text.indexOf('\n', s);
    if (e === -1 || e > to) e = to;
    out.push({ start: s, text: text.slice(s, e) });
    if (e >= to) break;
    s = e + 1;
  }
  return out;
}

/** The program in text[from, to) (the content of an `<answer>` block). */
export function extractProgram(text: string, from: number, to: number): Extracted {
  const warnings: Extracted['warnings'] = [];
  let lines = linesIn(text, from, to);
  let fence: Extracted['fence'] = null;

  const openIdx = lines.findIndex((l) => FENCE_OPEN_RE.test(l.text));
  if (openIdx !== -1) {
    const opener = lines[openIdx]!;
    fence = { language: FENCE_OPEN_RE.exec(opener.text)?.[1] ?? '' };
    let closeIdx = -1;
    for (let i = openIdx + 1; i < lines.length; i++) {
      if (FENCE_CLOSE_RE.test(lines[i]!.text)) {
        closeIdx = i;
        break;
      }
    }
    const before = lines.slice(0, openIdx).map((l) => l.text).join('\n');
    if (!isBlank(before)) {
      const at = lines.find((l) => !isBlank(l.text))?.start ?? from;
      warnings.push({ code: 'fence-text', at, message: `text before the code fence inside <answer> (%AT%) is ignored: put only the program inside <answer>` });
    }
    if (closeIdx === -1) {
      lines = lines.slice(openIdx + 1);
      // Closed at the end of the last code line ("y = 2```</answer>"): a fence all the same.
      let li = lines.length - 1;
      while (li >= 0 && isBlank(lines[li]!.text)) li--;
      const last = li >= 0 ? lines[li]! : undefined;
      const body = last?.text.replace(/[ \t\r]+$/, '');
      if (last && body !== undefined && body.endsWith('```') && !/^[ \t]*```/.test(body)) {
        lines[li] = { start: last.start, text: body.slice(0, -3) };
      } else {
        warnings.push({ code: 'fence-unclosed', at: opener.start, message: 'the code fence opened at %AT% is never closed with ```: the rest of <answer> is taken as the program' });
      }
    } else {
      const after = lines.slice(closeIdx + 1);
      const stray = after.find((l) => !isBlank(l.text));
      if (stray) {
        const more = after.some((l) => FENCE_OPEN_RE.test(l.text));
        warnings.push({
          code: more ? 'fence-multiple' : 'fence-text',
          at: stray.start + (stray.text.length - stray.text.trimStart().length),
          message: more
            ? 'a second code block inside <answer> (%AT%) is ignored: put the whole program in one block'
            : 'text after the code fence inside <answer> (%AT%) is ignored: put only the program inside <answer>',
        });
      }
      lines = lines.slice(openIdx + 1, closeIdx);
    }
  } else if (lines.length > 0) {
    // Same-line fence ("<answer>```python x = 1```"): rare, but handle it rather than run backticks.
    const first = lines[0]!;
    const m = /^[ \t]*```([\w+.#-]*)[ \t]?/.exec(first.text);
    if (m) {
      fence = { language: m[1] ?? '' };
      lines[0] = { start: first.start + m[0].length, text: first.text.slice(m[0].length) };
      const li = lines.length - 1;
      const last = lines[li]!;
      const ci = last.text.lastIndexOf('```');
      if (ci !== -1 && isBlank(last.text.slice(ci + 3))) lines[li] = { start: last.start, text: last.text.slice(0, ci) };
    }
  }

  // Drop leading blank lines and trailing blank lines / whitespace.
  while (lines.length > 0 && isBlank(lines[0]!.text)) lines.shift();
  while (lines.length > 0 && isBlank(lines[lines.length - 1]!.text)) lines.pop();
  if (lines.length === 0) return { program: '', lineCount: 0, start: to, indent: 0, fence, warnings };

  const firstMidLine = lines[0]!.start > 0 && text[lines[0]!.start - 1] !== '\n';
  if (firstMidLine) {
    // Program begins on the tag's own line: skip the spaces after the tag, never dedent.
    const f = lines[0]!;
    const lead = f.text.length - f.text.trimStart().length;
    lines[0] = { start: f.start + lead, text: f.text.slice(lead) };
  }
  let indent = '';
  if (!firstMidLine) {
    let common: string | null = null;
    for (const l of lines) {
      if (isBlank(l.text)) continue;
      const ws = /^[ \t]*/.exec(l.text)?.[0] ?? '';
      if (common === null) common = ws;
      else {
        let k = 0;
        while (k < common.length && k < ws.length && common[k] === ws[k]) k++;
        common = common.slice(0, k);
      }
      if (common.length === 0) break;
    }
    indent = common ?? '';
  }
  const out = lines.map((l) => {
    let t = l.text.endsWith('\r') ? l.text.slice(0, -1) : l.text;
    if (indent.length > 0) t = t.startsWith(indent) ? t.slice(indent.length) : t.trimStart();
    return t;
  });
  out[out.length - 1] = out[out.length - 1]!.trimEnd();
  return { program: out.join('\n'), lineCount: out.length, start: lines[0]!.start + indent.length, indent: indent.length, fence, warnings };
}
