/** Line framing of the runner's channels (the child's socket, the warm parent's stdout). */

/** The most one line may hold unless a channel says less (the warm parent's events are small). */
const MAX_LINE = 64 * 1024 * 1024;

/**
 * Splits a byte stream into lines (UTF-8). A line still open is kept as its pieces and searched
 * only as new text arrives: joining and searching the whole of it on every chunk made a 64 MiB
 * line without a newline cost about a minute of this event loop.
 */
export function lineSplitter(onLine: (line: string) => void, onOverflow: () => void, maxLine: number = MAX_LINE): (chunk: Buffer | string) => void {
  let pieces: string[] = [];
  let pending = 0;
  return (chunk) => {
    let text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl = text.indexOf('\n');
    while (nl >= 0) {
      pieces.push(text.slice(0, nl));
      const line = pieces.join('');
      pieces = [];
      pending = 0;
      if (line.trim() !== '') onLine(line);
      text = text.slice(nl + 1);
      nl = text.indexOf('\n');
    }
    if (text !== '') {
      pieces.push(text);
      pending += text.length;
    }
    if (pending > maxLine) {
      pieces = [];
      pending = 0;
      onOverflow();
    }
  };
}
