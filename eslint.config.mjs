// Lint config. Besides the recommended rules it enforces the import boundaries of
// docs/architecture.md "Rules" with eslint's own `no-restricted-imports`, one block per folder
// and file depth (a relative specifier reaches a folder through a depth-dependent number of
// `../`). test/lint/boundaries.test.ts lints a forbidden import under each block, so a rule
// cannot silently vanish.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const VSCODE = { name: 'vscode', message: 'Only src/extension may import vscode: keep domain code testable with plain node --test.' };

/** Regex source for a relative specifier that, from a file `up` folders below `base`, reaches `base/<one of dirs>`. */
const reaching = (up, dirs) => `^(\\.\\./){${up}}(${dirs.join('|')})(/|$)`;

/**
 * One config block per file depth under `folder` (depth 0 = files directly in it, up to 3
 * sub-folders), each with the `no-restricted-imports` options `rule(depth)` gives.
 */
function boundary(folder, rule) {
  return [0, 1, 2, 3].map((depth) => ({
    files: [`${folder}/${'*/'.repeat(depth)}*.{ts,mts,js,mjs}`],
    rules: { 'no-restricted-imports': ['error', rule(depth)] },
  }));
}

/** Bare specifiers (packages, node: builtins) other than zod (vscode has its own message). */
const ONLY_ZOD = { regex: '^(?![./])(?!zod$)(?!vscode$)', message: 'Only zod may be imported from packages here: this code runs in the browser and on Node alike.' };

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'reports/**', '.stryker-tmp/**', 'node_modules/**', 'test-artifacts/**', '.vscode-test/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', fetch: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly', performance: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // src/cli: no vscode, no src/extension (a CLI and an extension command share core functions).
  ...boundary('src/cli', (d) => ({
    paths: [VSCODE],
    patterns: [{ regex: reaching(d + 1, ['extension']), message: 'src/cli never imports src/extension: put what both need in src/core.' }],
  })),
  // src/core: domain code; no vscode, nothing of the front ends, of their Node glue (src/host) or of the tool server (started as a child process).
  ...boundary('src/core', (d) => ({
    paths: [VSCODE],
    patterns: [{ regex: reaching(d + 1, ['extension', 'cli', 'server', 'host']), message: 'src/core never imports src/extension, src/cli, src/host or src/server: front ends call core, not the other way round.' }],
  })),
  // src/host: Node glue both front ends use (starting the tool server, the run view's page); no vscode, no front end.
  ...boundary('src/host', (d) => ({
    paths: [VSCODE],
    patterns: [{ regex: reaching(d + 1, ['extension', 'cli']), message: 'src/host never imports src/extension or src/cli: both front ends use it.' }],
  })),
  // src/server: the tool server and reward service; no vscode, no front end.
  ...boundary('src/server', (d) => ({
    paths: [VSCODE],
    patterns: [{ regex: reaching(d + 1, ['extension', 'cli']), message: 'src/server never imports src/extension or src/cli.' }],
  })),
  // src/protocol: contracts imported by Node and browser code alike; nothing of ours but protocol, no package but zod.
  ...boundary('src/protocol', (d) => ({
    paths: [VSCODE],
    patterns: [{ regex: `^(\\.\\./){${d + 1}}`, message: 'src/protocol imports only other src/protocol files (and zod).' }, ONLY_ZOD],
  })),
  // webview: the browser bundles; only webview/ itself and src/protocol/, no package but zod.
  ...boundary('webview', (d) => ({
    paths: [VSCODE],
    patterns: [{ regex: `^(\\.\\./){${d + 1}}(?!src/protocol/)`, message: 'webview/ imports only webview/ and src/protocol/ (the host hands it everything else).' }, ONLY_ZOD],
  })),
  {
    files: ['webview/**'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', requestAnimationFrame: 'readonly', HTMLElement: 'readonly' } },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
