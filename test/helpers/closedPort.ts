/**
 * A loopback port with nothing listening on it, for tests of "the endpoint is down".
 *
 * Reserving a port with `listen(0)` and closing it is not enough: tests run in parallel
 * processes, and the next server anywhere that listens on port 0 may be handed the same
 * port (CI once saw "down" answer 401 from another test's server). Every test server
 * here listens on port 0, which the kernel serves from its ephemeral range, so this picks
 * a port below that range (and above Ray's worker ports, 10002-19999), checks that it
 * can be bound right now, and lets it go.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 20_100) return low;
  } catch {
    // Not Linux: the IANA range starts at 49152 (macOS, Windows).
    return 49_152;
  }
  return 32_768; // Linux's default
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function closedPort(): Promise<number> {
  const low = 20_000;
  const span = Math.min(ephemeralLow(), 30_000) - low;
  for (let tries = 0; tries < 50; tries++) {
    const port = low + Math.floor(Math.random() * span);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found between ${low} and ${low + span}`);
}

/** `http://127.0.0.1:<closed port><path>`. */
export async function closedPortUrl(path = ''): Promise<string> {
  return `http://127.0.0.1:${await closedPort()}${path}`;
}
