/**
 * A `.vprog` named on the command line: read and parsed, with the usage errors the commands that
 * take one (run, score, rollouts, audit, judges compare) share.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { missingHeadersMessage, parseVprog, type VprogDocument } from '../core/vprog.js';
import { UsageError } from './command.js';

/** Reads `name` (relative to `cwd`); a file that cannot be read is a usage error naming its path. */
export async function readVprogFile(cwd: string, name: string): Promise<{ path: string; doc: VprogDocument }> {
  const path = resolve(cwd, name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${path}: check the path`);
  }
  return { path, doc: parseVprog(text) };
}

/** The document's question, or a usage error saying which header line to add. */
export function requireQuery(name: string, doc: VprogDocument): string {
  if (!doc.query) throw new UsageError(`${missingHeadersMessage(name, doc, ['query'])}: add it at the top, the question on one line`);
  return doc.query;
}
