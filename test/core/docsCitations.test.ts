/**
 * The repository carries its own documentation: no tracked file cites a folder outside it
 * (`../shared/spec`) or the old spec files (`design.md`, a bare `valor.md`), and every citation
 * of `docs/valor.md §N` or `docs/architecture.md "Heading"` points at a section that exists.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../helpers/cli.js';

function trackedText(): { path: string; text: string }[] {
  const out = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: REPO, encoding: 'utf8' });
  return out
    .split('\0')
    .filter((p) => p && /\.(ts|mjs|js|md|json|py|sh)$/.test(p) && !p.startsWith('test/fixtures/') && existsSync(join(REPO, p)))
    .map((path) => ({ path, text: readFileSync(join(REPO, path), 'utf8') }));
}

const headings = (file: string): string[] =>
  readFileSync(join(REPO, 'docs', file), 'utf8').split('\n').filter((l) => l.startsWith('## ')).map((l) => l.slice(3).trim());

describe('documentation lives in the repository', { skip: existsSync(join(REPO, '.git')) ? false : 'needs git to list files' }, () => {
  const files = trackedText();
  const self = 'test/core/docsCitations.test.ts';

  it('docs/valor.md and docs/architecture.md exist', () => {
    assert.ok(existsSync(join(REPO, 'docs', 'valor.md')));
    assert.ok(existsSync(join(REPO, 'docs', 'architecture.md')));
  });

  it('nothing cites ../shared/spec, design.md or a bare valor.md', () => {
    const bad: string[] = [];
    for (const { path, text } of files) {
      if (path === self) continue;
      text.split('\n').forEach((line, i) => {
        if (/shared\/spec|\bdesign\.md\b|(?<![\w/])valor\.md\b/.test(line) && !(path.startsWith('docs/') && /\]\(valor\.md\)|\[valor\.md\]/.test(line))) {
          bad.push(`${path}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    assert.deepEqual(bad, [], 'cite docs/valor.md or docs/architecture.md instead');
  });

  it('every docs/valor.md §N and docs/architecture.md "Heading" citation exists', () => {
    const valorSections = new Set(headings('valor.md').map((h) => h.split(' ')[0]));
    const archSections = new Set(headings('architecture.md'));
    const bad: string[] = [];
    let seen = 0;
    for (const { path, text } of files) {
      if (path === self) continue;
      for (const m of text.matchAll(/docs\/valor\.md (§\d+)/g)) {
        seen++;
        if (!valorSections.has(m[1] as string)) bad.push(`${path}: ${m[0]}`);
      }
      for (const m of text.matchAll(/docs\/architecture\.md "([^"]+)"/g)) {
        seen++;
        if (!archSections.has(m[1] as string)) bad.push(`${path}: ${m[0]}`);
      }
    }
    assert.ok(seen > 20, `expected the source to cite the docs (found ${seen} citations)`);
    assert.deepEqual(bad, []);
  });
});
