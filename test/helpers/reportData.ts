/** The question data a `report.html` carries (src/core/eval/reportApp.ts), read back for tests. */
import type { ReportData } from '../../src/core/eval/reportApp.js';

export function reportData(html: string): ReportData {
  const m = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('report.html carries no #report-data');
  return JSON.parse(m[1] as string) as ReportData;
}

/** Every `<script` in the page: the report has exactly its data block and its own script. */
export const scriptTags = (html: string): number => (html.match(/<script\b/gi) ?? []).length;
