/** Line framing of the runner's channels (the child's socket, the warm parent's stdout). */

/** The most one line may hold unless a channel says less (the warm parent's events are small). */
const MAX_LINE = 64 * 1024 * 1024;

/** Splits a byte stream into lines (UTF-8). */
export function lineSplitter(onLine: (line: string) => void, onOverflow: () => void, maxLine: number = MAX_LINE): (chunk: Buffer | string) => void {
  let buf = '';
  return (chunk) => {
    buf += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() !== '') onLine(line);
      nl = buf.indexOf('\n');
    }
    if (buf.length > maxLine) {
      buf = '';
      onOverflow();
    }
  };
}
