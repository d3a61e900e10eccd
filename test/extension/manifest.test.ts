/**
 * package.json's contributions agree with the code: command ids (both ways), settings (keys,
 * types, defaults), menus naming only declared commands, files the manifest points at, and the
 * .vscodeignore allow-list shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMAND_IDS, LANGUAGE_ID, RUNS_VIEW_ID, RUN_VIEW_TYPE } from '../../src/extension/commandIds.js';
import { SETTING_SPECS, readConfig } from '../../src/extension/config.js';

const ROOT = join(__dirname, '..', '..');
interface Manifest {
  main: string;
  icon: string;
  engines: { vscode: string };
  activationEvents: string[];
  capabilities: { untrustedWorkspaces: { supported: string | boolean; description?: string; restrictedConfigurations?: string[] } };
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
  contributes: {
    commands: Array<{ command: string; title: string; category: string }>;
    menus: Record<string, Array<{ command: string; when?: string }>>;
    configuration: Array<{ title: string; properties: Record<string, { type: string; default: unknown; markdownDescription?: string; description?: string }> }>;
    languages: Array<{ id: string; extensions: string[]; configuration: string; icon: { light: string; dark: string } }>;
    grammars: Array<{ language?: string; scopeName: string; path: string; embeddedLanguages?: Record<string, string>; injectTo?: string[] }>;
    snippets: Array<{ language: string; path: string }>;
    views: Record<string, Array<{ id: string }>>;
    colors: Array<{ id: string; defaults: Record<string, string> }>;
  };
}
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;

test('contributes.commands lists exactly the ids declared in commandIds.ts', () => {
  const declared = manifest.contributes.commands.map((c) => c.command).sort();
  assert.deepEqual(declared, [...COMMAND_IDS].sort());
  assert.equal(new Set(declared).size, declared.length, 'no duplicates');
  for (const c of manifest.contributes.commands) {
    assert.match(c.command, /^valor\.[a-z][A-Za-z]+$/, `${c.command} is valor.camelCase`);
    assert.equal(c.category, 'VALOR');
    assert.ok(c.title.length > 3);
  }
});

test('every menu entry names a declared command; palette entries of document commands have a when clause', () => {
  const ids = new Set<string>(COMMAND_IDS);
  for (const [menu, entries] of Object.entries(manifest.contributes.menus)) {
    for (const e of entries) assert.ok(ids.has(e.command), `${menu} names unknown command ${e.command}`);
  }
  const palette = new Map(manifest.contributes.menus.commandPalette!.map((e) => [e.command, e.when]));
  for (const id of ['valor.generate', 'valor.runProgram', 'valor.score', 'valor.verifyBoxes', 'valor.overrideVerdict', 'valor.rejudgeReward']) {
    assert.match(palette.get(id) ?? '', /editorLangId == vprog/, `${id} appears only in .vprog editors`);
  }
  const explorer = manifest.contributes.menus['explorer/context']!.find((e) => e.command === 'valor.newQuery');
  assert.ok(explorer?.when && /resourceExtname/.test(explorer.when), 'new query is offered on image files in the explorer');
  const re = /\/\^\\\.\((.*)\)\$\/i/.exec(explorer.when);
  assert.ok(re, 'the explorer when clause holds an extension regex');
  const rx = new RegExp(`^\\.(${re[1]})$`, 'i');
  for (const ok of ['.jpg', '.JPEG', '.png', '.webp']) assert.ok(rx.test(ok), ok);
  for (const bad of ['.vprog', '.txt', '.jpgx']) assert.ok(!rx.test(bad), bad);
});

test('every setting the code reads is declared with the same type and default, and nothing else is declared', () => {
  const props = Object.assign({}, ...manifest.contributes.configuration.map((g) => g.properties)) as Manifest['contributes']['configuration'][number]['properties'];
  const declared = Object.keys(props).sort();
  assert.deepEqual(declared, Object.keys(SETTING_SPECS).map((k) => `valor.${k}`).sort());
  for (const [key, spec] of Object.entries(SETTING_SPECS)) {
    const p = props[`valor.${key}`]!;
    assert.deepEqual(p.default, spec.default, `default of valor.${key}`);
    const type = Array.isArray(spec.default) ? 'array' : typeof spec.default === 'object' ? 'object' : typeof spec.default;
    assert.ok(p.type === type || (type === 'number' && p.type === 'integer'), `type of valor.${key}: ${p.type} vs ${type}`);
    assert.ok((p.markdownDescription ?? p.description ?? '').length > 20, `valor.${key} is documented`);
  }
  // Defaults read back as themselves, with no problems reported.
  const { problems } = readConfig((k) => props[`valor.${k}`]!.default);
  assert.deepEqual(problems, []);
  assert.ok(manifest.contributes.configuration.length >= 4, 'settings are grouped');
});

test('workspace trust is limited, explained, and endpoint URLs are restricted in untrusted workspaces', () => {
  const t = manifest.capabilities.untrustedWorkspaces;
  assert.equal(t.supported, 'limited');
  assert.match(t.description ?? '', /does not run programs/);
  for (const k of ['valor.generator.baseUrl', 'valor.judge.baseUrl', 'valor.vision.baseUrl', 'valor.toolServer.url']) {
    assert.ok(t.restrictedConfigurations?.includes(k), k);
  }
});

test('activation is lazy: the language, the view and the run view; never *', () => {
  assert.ok(manifest.activationEvents.includes(`onLanguage:${LANGUAGE_ID}`));
  assert.ok(manifest.activationEvents.includes(`onView:${RUNS_VIEW_ID}`));
  assert.ok(manifest.activationEvents.includes(`onWebviewPanel:${RUN_VIEW_TYPE}`));
  assert.ok(!manifest.activationEvents.includes('*'));
  assert.ok(!manifest.activationEvents.some((e) => e.startsWith('onStartupFinished')));
  assert.ok(manifest.contributes.views.explorer!.some((v) => v.id === RUNS_VIEW_ID));
});

test('files the manifest points at exist; language, grammar, snippets and colours are wired', () => {
  assert.equal(manifest.main, './dist/extension.js');
  assert.equal(manifest.engines.vscode, `^${manifest.devDependencies['@types/vscode']}`, '@types/vscode matches engines.vscode');
  assert.ok(existsSync(join(ROOT, manifest.icon)) && manifest.icon.endsWith('.png'), 'extension icon is a PNG (vsce rejects SVG icons)');
  const lang = manifest.contributes.languages.find((l) => l.id === LANGUAGE_ID)!;
  assert.deepEqual(lang.extensions, ['.vprog']);
  for (const p of [lang.configuration, lang.icon.light, lang.icon.dark, ...manifest.contributes.grammars.map((g) => g.path), ...manifest.contributes.snippets.map((s) => s.path)]) {
    assert.ok(existsSync(join(ROOT, p)), `${p} exists`);
    if (p.endsWith('.json')) JSON.parse(readFileSync(join(ROOT, p), 'utf8'));
  }
  const main = manifest.contributes.grammars.find((g) => g.language === LANGUAGE_ID)!;
  assert.equal(main.scopeName, 'source.vprog');
  assert.equal(main.embeddedLanguages?.['meta.embedded.block.python'], 'python');
  assert.ok(manifest.contributes.grammars.some((g) => g.injectTo?.includes('source.vprog')));
  const colors = new Map(manifest.contributes.colors.map((c) => [c.id, c.defaults]));
  for (const id of ['valor.scorePassed', 'valor.scoreFailed', 'valor.scoreError', 'valor.scoreOverridden']) {
    const d = colors.get(id);
    assert.ok(d, id);
    // Theme-derived defaults, not hard-coded hex colours.
    for (const v of Object.values(d)) assert.doesNotMatch(v, /^#/);
  }
  assert.equal(new Set([...colors.values()].map((d) => d.dark)).size, 4, 'the four states look distinct');
});

test('.vscodeignore is an allow-list: everything out, then named paths back in', () => {
  const lines = readFileSync(join(ROOT, '.vscodeignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.equal(lines[0], '**');
  assert.ok(lines.slice(1).every((l) => l.startsWith('!')), 'after ** every line re-includes');
  assert.ok(lines.includes('!node_modules/onnxruntime-node/bin/napi-v6/linux/x64/**'));
  assert.ok(!lines.some((l) => /darwin|win32|arm64/.test(l)));
  assert.match(manifest.scripts.package ?? '', /vsce package --target linux-x64/);
});
