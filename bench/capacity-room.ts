/**
 * A room process for bench/capacity.ts: `sessions` fleet-mode AssistantLLMs in this one process,
 * each sending its next message as soon as the previous reply ended, for as long as the bench
 * says. Driven over IPC:
 *
 *   parent → { type: 'go' }       every session starts its loop
 *   parent → { type: 'sample' }   reply { type: 'sample', ...counters, cpu µs of this process }
 *   parent → { type: 'stop' }     loops end after their current run; reply { type: 'stopped' }
 *
 * Configuration comes in CAPACITY_ROOM (JSON, see RoomConfig). Started with `node --import tsx`,
 * so its pid is the process whose CPU the bench reads.
 */
import { AssistantLLM } from '../src/index.js';
import { EmulatorServer } from '../src/testing.js';
import type { RedisTransportOptions } from '../queues/index.js';

export interface RoomConfig {
  /** The transport's `redis`: a URL, or whatever else RedisTransportOptions['redis'] takes. */
  redis: RedisTransportOptions['redis'];
  prefix: string;
  queue: string;
  room: string;
  sessions: number;
  /** The message every run sends (it picks the emulator's script). */
  message: string;
  /** Queue shards (the transport's `queues`); left out for one queue. */
  queues?: number;
  /** Session i sends its first message i × spreadMs / sessions after 'go', so runs do not start in step. */
  spreadMs: number;
}

export interface RoomSample {
  type: 'sample';
  /** Text chunks process() yielded. */
  chunks: number;
  /** Runs whose first chunk arrived: queued → a worker began it → first event at the room. */
  firstChunks: number;
  /** Runs whose stream ended without an error. */
  runsEnded: number;
  failedRuns: number;
  /** process.cpuUsage(), user + system, in µs. */
  cpuMicros: number;
  lastError: string | null;
}

function send(message: object): void {
  process.send!(message);
}

async function main(): Promise<void> {
  const raw = process.env.CAPACITY_ROOM;
  if (!raw) throw new Error('CAPACITY_ROOM: expected the room configuration as JSON');
  const config = JSON.parse(raw) as RoomConfig;
  const llms = Array.from(
    { length: config.sessions },
    (_, i) =>
      new AssistantLLM({
        load_options: { assistant_id: EmulatorServer.defaultAssistantId },
        transport: {
          redis: config.redis,
          prefix: config.prefix,
          queue: config.queue,
          ...(config.queues ? { queues: config.queues } : {}),
          session: { room: config.room, participant: `p${i}` },
        },
      }),
  );
  const counters = { chunks: 0, firstChunks: 0, runsEnded: 0, failedRuns: 0 };
  let lastError: string | null = null;
  let running = false;

  // Each session's first run creates its thread; not counted. Spread so the queue is not flooded.
  // On a starved machine a run can fail (a lock not renewed in time): tried again, and reported.
  let warmUpFailures = 0;
  await Promise.all(
    llms.map(async (llm, i) => {
      await new Promise((r) => setTimeout(r, (i * 1000) / config.sessions));
      for (let attempt = 1; ; attempt++) {
        try {
          for await (const _chunk of llm.process('warm up'));
          return;
        } catch (error) {
          warmUpFailures++;
          console.error(`capacity room: warm-up run failed: ${(error as Error).message}`);
          if (attempt === 3) throw error;
        }
      }
    }),
  );

  const loop = async (llm: AssistantLLM, i: number) => {
    await new Promise((r) => setTimeout(r, (i * config.spreadMs) / config.sessions));
    while (running) {
      let first = true;
      try {
        for await (const _chunk of llm.process(config.message)) {
          counters.chunks++;
          if (first) counters.firstChunks++;
          first = false;
        }
        counters.runsEnded++;
      } catch (error) {
        // Counted and reported to the bench, which fails the measurement on any.
        counters.failedRuns++;
        lastError = (error as Error).message;
      }
    }
  };

  let loops: Promise<void[]> | null = null;
  process.on('message', (message: { type: string }) => {
    if (message.type === 'go' && !running) {
      running = true;
      loops = Promise.all(llms.map((llm, i) => loop(llm, i)));
    } else if (message.type === 'sample') {
      const cpu = process.cpuUsage();
      const sample: RoomSample = {
        type: 'sample',
        ...counters,
        cpuMicros: cpu.user + cpu.system,
        lastError,
      };
      send(sample);
    } else if (message.type === 'stop') {
      running = false;
      void (async () => {
        await loops;
        await Promise.all(llms.map((llm) => llm.aclose()));
        send({ type: 'stopped' });
      })();
    }
  });
  send({ type: 'ready', warmUpFailures });
}

main().catch((error: unknown) => {
  console.error(`capacity room: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
