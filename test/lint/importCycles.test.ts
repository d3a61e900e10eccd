// No import cycles in src/ or webview/ (docs/architecture.md "Rules"), type-only imports included:
// a cycle of types today is a cycle of values after the next refactor, and it ties two modules
// into one unit that cannot be read or tested alone. Imports are read with the TypeScript
// compiler's own pre-processor (static imports, `import type`, `export … from`, `import()`).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { REPO } from '../helpers/cli.js';

type Graph = Map<string, string[]>;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Each file's relative imports that resolve to a .ts file of the repo. */
function importGraph(files: readonly string[], read: (file: string) => string): Graph {
  const g: Graph = new Map();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(read(file), true, true);
    const deps = importedFiles
      .map((i) => i.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => resolve(dirname(file), spec).replace(/\.js$/, '.ts'))
      .filter((p) => g.has(p) || files.includes(p));
    g.set(file, deps);
  }
  return g;
}

/** The strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(g: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (g.get(v) ?? []).includes(v)) found.push(comp.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('import cycles', () => {
  test('the detector finds a cycle, type-only and re-export edges included, and passes a tree', () => {
    const src: Record<string, string> = {
      '/r/a.ts': "import type { B } from './b.js';\nexport type A = B;\n",
      '/r/b.ts': "export { c } from './sub/c.js';\nexport type B = 1;\n",
      '/r/sub/c.ts': "export const c = () => import('../a.js');\n",
      '/r/d.ts': "import { c } from './sub/c.js';\nimport 'node:fs';\nexport const d = c;\n",
    };
    const files = Object.keys(src);
    assert.deepEqual(cycles(importGraph(files, (f) => src[f]!)), [['/r/a.ts', '/r/b.ts', '/r/sub/c.ts']]);
    src['/r/sub/c.ts'] = 'export const c = 1;\n';
    assert.deepEqual(cycles(importGraph(files, (f) => src[f]!)), []);
  });

  test('src/ and webview/ have none', () => {
    const files = ['src', 'webview'].map((d) => join(REPO, d)).filter(existsSync).flatMap(tsFiles);
    assert.ok(files.length > 100, `found the sources (${files.length} files)`);
    const found = cycles(importGraph(files, (f) => readFileSync(f, 'utf8'))).map((c) => c.map((f) => relative(REPO, f)).join(' <-> '));
    assert.deepEqual(found, [], 'move the shared part into a module both can import');
  });
});
