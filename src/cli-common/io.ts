/** Where commands write: injected so tests can capture it. */
export interface Io {
  out(line: string): void;
  /** A transient status line (progress); redrawn in place on a terminal. */
  status(line: string): void;
  err(line: string): void;
}

export function consoleIo(stream: NodeJS.WriteStream = process.stderr): Io {
  const tty = stream.isTTY;
  let lastStatusAt = 0;
  let shown = false;
  return {
    out: (line) => {
      if (tty && shown) stream.write('\r\x1b[K');
      shown = false;
      process.stdout.write(`${line}\n`);
    },
    status: (line) => {
      if (tty) {
        stream.write(`\r\x1b[K${line.slice(0, (stream.columns ?? 120) - 1)}`);
        shown = line !== '';
        return;
      }
      // Logs get a line at most every 10 seconds instead of a redraw every second.
      const now = Date.now();
      if (line && now - lastStatusAt >= 10_000) {
        stream.write(`${line}\n`);
        lastStatusAt = now;
      }
    },
    err: (line) => {
      if (tty && shown) stream.write('\r\x1b[K');
      shown = false;
      process.stderr.write(`${line}\n`);
    },
  };
}
