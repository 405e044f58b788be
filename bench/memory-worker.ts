/**
 * Child process of bench/memory.ts (run with --expose-gc): a RunWorker and nothing else, whose
 * heap the parent asks for over IPC while it drives runs through it.
 */
import OpenAI from 'openai';
import { RunWorker } from '../queues/run-worker.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !process.send) throw new Error('run with node --expose-gc and an IPC channel');
const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: console.error,
};
const worker = new RunWorker({
  redis: process.env.REDIS_URL!,
  openai: new OpenAI({
    apiKey: process.env.OPENAI_API_KEY!,
    baseURL: process.env.OPENAI_BASE_URL!,
  }),
  prefix: process.env.ASSISTANT_PREFIX!,
  queue: process.env.ASSISTANT_QUEUE!,
  concurrency: Number(process.env.WORKER_CONCURRENCY ?? 1000),
  logger: quiet,
});
await worker.ready();
process.on('message', (message: { type: string }) => {
  if (message.type === 'measure') {
    for (let i = 0; i < 4; i++) gc();
    const m = process.memoryUsage();
    process.send!({
      type: 'heap',
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      rss: m.rss,
      running: worker.runningCount,
    });
  } else if (message.type === 'close') {
    void worker.close(2_000).then(() => process.exit(0));
  }
});
process.send({ type: 'ready' });
