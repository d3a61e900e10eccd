/** VALOR: Generate Plan and Program: streams a fresh reply of the generator into the document. */
import * as vscode from 'vscode';
import { replaceVprogReply } from '../../core/vprog.js';
import { targetDocument } from '../commandArguments.js';
import { withCancellableProgress, withRole, type Report } from '../commandGuard.js';
import { DocumentStreamer, replaceWholeText } from '../documentStreamer.js';
import { ActionableError } from '../errors.js';
import { promptSettings } from '../promptSettings.js';
import type { CommandDeps, CommandSpec } from './commandDeps.js';

/** Streams a fresh reply into the document (replacing the old one). */
export async function generateInto(d: CommandDeps, doc: vscode.TextDocument, signal: AbortSignal, report: Report, fresh: boolean): Promise<void> {
  const vprog = d.layouts.vprog(doc);
  if (!vprog.query) {
    throw new ActionableError("the document has no '# query: <question>' line, so there is nothing to generate a program for: add it at the top");
  }
  const generator = await d.clients.chat('generator', { noCache: fresh });
  const prompt = await (await promptSettings(d, doc.uri)).prompt();
  await replaceWholeText(doc, replaceVprogReply(doc.getText(), ''));
  const streamer = new DocumentStreamer(doc);
  const { generateReply } = await import('../../core/pipeline.js');
  report(`asking ${generator.model}…`);
  let chars = 0;
  const res = await withRole(
    'generator',
    generateReply(generator, vprog.query, {
      sampling: { max_tokens: d.config().generator.maxTokens },
      prompt,
      noCache: fresh,
      signal,
      onDelta: (delta) => {
        chars += delta.length;
        streamer.push(delta);
        if (chars % 200 < delta.length) report(`writing… ${chars} characters`);
      },
    }),
  );
  await streamer.flush();
  // The final text is the reply exactly (a cached reply arrives without deltas).
  await replaceWholeText(doc, replaceVprogReply(doc.getText(), res.reply));
  d.log.info(`generated a reply with ${res.model} in ${Math.round(res.ms)} ms${res.cached ? ' (cached)' : ''}`);
  if (!doc.isUntitled) await doc.save();
}

export const generate: CommandSpec = {
  doing: 'Generating the plan and program',
  create: (d) => async (arg?: unknown) => {
    const doc = await targetDocument(arg);
    const hasReply = d.layouts.vprog(doc).reply.trim() !== '';
    if (hasReply) {
      const ok = await vscode.window.showWarningMessage('Replace the plan and program in this document with a newly generated one?', { modal: true }, 'Replace');
      if (ok !== 'Replace') return;
    }
    await withCancellableProgress('VALOR: generating the plan and program', (signal, report) => generateInto(d, doc, signal, report, hasReply));
  },
};
