/**
 * Python's `str.format` with positional arguments, for judge templates written for it (VALOR's
 * `*_reward.txt` and `code_prompt.txt` are filled that way). Only what positional filling of plain
 * text needs is taken: `{}` (automatic numbering), `{0}`/`{1}`/... (manual numbering), and `{{`/`}}`
 * for literal braces. What Python would reject (a lone `}`, an unclosed `{`, mixing automatic and
 * manual numbering, an index past the arguments, a named field) is an error here too, and so is
 * a conversion or format spec (`{0!r}`, `{0:>8}`), which a prompt template has no use for and we
 * would not reproduce exactly.
 */

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

type Piece = { text: string } | { arg: number };

/** Parses a template into text and argument pieces; `what` names it in errors. */
export function parsePyFormat(template: string, what: string): Piece[] {
  const pieces: Piece[] = [];
  let text = '';
  let auto = 0;
  let numbering: 'auto' | 'manual' | null = null;
  const lineOf = (i: number): number => template.slice(0, i).split('\n').length;
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c === '}') {
      if (template[i + 1] === '}') {
        text += '}';
        i++;
        continue;
      }
      throw new TemplateError(`${what} line ${lineOf(i)}: single '}' (write '}}' for a literal brace)`);
    }
    if (c !== '{') {
      text += c;
      continue;
    }
    if (template[i + 1] === '{') {
      text += '{';
      i++;
      continue;
    }
    const end = template.indexOf('}', i + 1);
    if (end < 0) throw new TemplateError(`${what} line ${lineOf(i)}: '{' is never closed (write '{{' for a literal brace)`);
    const field = template.slice(i + 1, end);
    let index: number;
    if (field === '') {
      if (numbering === 'manual') throw new TemplateError(`${what} line ${lineOf(i)}: cannot switch from manual field numbering to automatic ('{}' after '{0}')`);
      numbering = 'auto';
      index = auto++;
    } else if (/^\d+$/.test(field)) {
      if (numbering === 'auto') throw new TemplateError(`${what} line ${lineOf(i)}: cannot switch from automatic field numbering to manual ('{${field}}' after '{}')`);
      numbering = 'manual';
      index = Number(field);
    } else {
      throw new TemplateError(
        `${what} line ${lineOf(i)}: field '{${field}}' is not positional; the template is filled with positional arguments only ('{}' or '{0}', '{1}', ...; '{{' for a literal brace)`,
      );
    }
    if (text) pieces.push({ text });
    text = '';
    pieces.push({ arg: index });
    i = end;
  }
  if (text) pieces.push({ text });
  return pieces;
}

/** The argument indices a template uses, in order of first use. */
export function fieldsUsed(pieces: readonly Piece[]): number[] {
  const out: number[] = [];
  for (const p of pieces) if ('arg' in p && !out.includes(p.arg)) out.push(p.arg);
  return out;
}

/** Fills parsed pieces with `args`, as `template.format(*args)` would. */
export function fillPyFormat(pieces: readonly Piece[], args: readonly string[], what: string): string {
  let out = '';
  for (const p of pieces) {
    if ('text' in p) out += p.text;
    else {
      const v = args[p.arg];
      if (v === undefined) throw new TemplateError(`${what}: field {${p.arg}} has no argument (${args.length} given)`);
      out += v;
    }
  }
  return out;
}
