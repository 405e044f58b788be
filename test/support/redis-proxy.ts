/**
 * A TCP proxy in front of the test Redis, for a worker process whose every Redis connection
 * goes through it. It forwards bytes both ways unchanged; once armed, the first chunk a client
 * sends that holds a given command is held back, `onMatch` runs (a test stops the process
 * there), and only then is the chunk forwarded: Redis answers while the process cannot read the
 * answer, which is what a worker paused at that very moment would see when it wakes.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

export interface RedisProxy {
  /** redis://127.0.0.1:<port> */
  url: string;
  /** The next chunk holding `command` (as RESP sends it, e.g. PTTL) waits for `onMatch`. */
  arm(command: string, onMatch: () => Promise<void>): void;
  /** Resolves once an armed chunk was held and forwarded. */
  readonly matched: Promise<void>;
  close(): Promise<void>;
}

export async function startRedisProxy(upstreamPort = 6379): Promise<RedisProxy> {
  let armed: { needle: Buffer; onMatch: () => Promise<void> } | null = null;
  let markMatched!: () => void;
  const matched = new Promise<void>((resolve) => (markMatched = resolve));
  const sockets = new Set<net.Socket>();

  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      socket.on('close', () => sockets.delete(socket));
      // A connection torn down at the test's end is expected; the other side is closed with it.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.pipe(client);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    // One chunk at a time and in order: a held chunk holds back what follows it.
    let queue = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      const hold = armed && chunk.includes(armed.needle) ? armed : null;
      if (hold) armed = null;
      queue = queue.then(async () => {
        if (hold) {
          await hold.onMatch();
          markMatched();
        }
        upstream.write(chunk);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    arm(command, onMatch) {
      // RESP names a command as a bulk string, $<length>\r\n<name>\r\n, in the case the
      // client wrote it (ioredis: lower case).
      armed = {
        needle: Buffer.from(`$${command.length}\r\n${command.toLowerCase()}\r\n`),
        onMatch,
      };
    },
    matched,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits until the kernel reports process `pid` stopped (state T), after a SIGSTOP. */
export async function untilStopped(pid: number): Promise<void> {
  for (;;) {
    // The state is the field after the parenthesised command name in /proc/<pid>/stat.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
