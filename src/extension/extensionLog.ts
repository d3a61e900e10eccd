/**
 * The extension's log: one LogOutputChannel ("VALOR"); every line, and every message shown to
 * the person, passes the secret redactor first.
 */
import type * as vscode from 'vscode';
import { redact } from './secrets.js';

export class ExtensionLog {
  constructor(
    readonly channel: vscode.LogOutputChannel,
    private readonly secrets: () => readonly string[],
  ) {}

  info(text: string): void {
    this.channel.info(redact(text, this.secrets()));
  }

  warn(text: string): void {
    this.channel.warn(redact(text, this.secrets()));
  }

  error(text: string): void {
    this.channel.error(redact(text, this.secrets()));
  }

  /** A line from the tool server, as it printed it (redacted). */
  server(text: string): void {
    this.channel.info(`[server] ${redact(text, this.secrets())}`);
  }

  show(): void {
    this.channel.show(true);
  }

  /** The text with every known secret hidden (also for messages shown to the person). */
  redact(text: string): string {
    return redact(text, this.secrets());
  }
}
