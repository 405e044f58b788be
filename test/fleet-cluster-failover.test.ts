/**
 * Failovers under load, on a Redis Cluster of this suite's own (3 primaries + 3 replicas on
 * REDIS_CLUSTER_PORT, 7010-7015 in the `failover` vitest project, so no other suite sees them):
 *
 * - a coordinated failover (CLUSTER FAILOVER on the replica of the primary that holds the run
 *   queue's slot) during a soak: 0 chunks and 0 turns lost or duplicated;
 * - a primary killed with SIGKILL, its replica promoted: writes the replica had not received are
 *   lost. The soak counts what that costs and checks it is never silent: every turn either
 *   delivers exactly its text or fails with a RunError (events_lost, worker_lost, queue_timeout,
 *   ...); none hangs, none repeats a chunk, no thread holds a message twice.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenize } from '../src/emulator/script.js';
import { InterruptionError, RunError, type AssistantLLM } from '../src/index.js';
import { primaries, primaryOf } from './support/cluster.js';
import { useEmulator } from './support/emulator.js';
import {
  CLUSTER_PORTS,
  fleetLLM,
  ON_CLUSTER,
  openRedis,
  REDIS_URL,
  startWorker,
  uniqueNames,
  type FleetNames,
  type WorkerProcess,
} from './support/fleet.js';

const script = fileURLToPath(new URL('../scripts/redis-cluster.sh', import.meta.url));
const cluster = (command: 'start' | 'stop') =>
  execFileSync('bash', [script, command], {
    encoding: 'utf8',
    env: { ...process.env, REDIS_CLUSTER_PORT: String(CLUSTER_PORTS[0]) },
  });

const SESSIONS = 40;
const TURNS = 12;
/** A turn that has not ended after this long counts as hung: a silent loss. */
const HUNG_MS = 45_000;

const fx = useEmulator(
  {
    recordEvents: false,
    recordRequests: false,
    tokenDelayMs: 5,
    scripts: [
      {
        message: 'tool',
        script: {
          steps: [
            { functionCalls: [{ name: 'lookup', arguments: { q: 'x' } }] },
            { text: (c) => `found ${c.toolOutputs[0]?.output}` },
          ],
        },
      },
    ],
  },
  'none',
);

interface Tally {
  turns: number;
  completed: number;
  /** Turns that ended with a RunError, by its code: loud. */
  failed: Record<string, number>;
  hung: number;
  /** The turns that hung, with what had arrived. */
  hungTurns: string[];
  lostChunks: number;
  duplicatedChunks: number;
  /** Completed turns whose text was not exactly the expected one. */
  wrong: string[];
  duplicatedTurns: number;
  seconds: number;
}

/** The slot's holder: the primary whose replica is failed over, or that is killed. */
async function queuePrimary(redis: Cluster, names: FleetNames): Promise<string> {
  return primaryOf(redis, `bull:{${names.queue}}:${names.queue}:wait`);
}

async function replicaOf(redis: Cluster, address: string): Promise<string> {
  const text = (await redis.cluster('NODES')) as string;
  const lines = text
    .trim()
    .split('\n')
    .map((line) => line.split(' '));
  const primary = lines.find((fields) => fields[1]!.split('@')[0] === address)!;
  const replica = lines.find((fields) => fields[3] === primary[0] && fields[2]!.includes('slave'));
  if (!replica) throw new Error(`no replica of ${address}`);
  return replica[1]!.split('@')[0]!;
}

async function until(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function direct(address: string): Redis {
  const [host, port] = address.split(':');
  const redis = new Redis({ host: host!, port: Number(port), lazyConnect: true });
  // Handled: the caller sees a failed command; a killed node's socket errors are expected.
  redis.on('error', () => undefined);
  return redis;
}

/** `sessions` x `turns` plain and tool turns; `disrupt` runs once 30 % of the turns are done. */
async function soak(names: FleetNames, disrupt: () => Promise<void>): Promise<Tally> {
  const tally: Tally = {
    turns: SESSIONS * TURNS,
    completed: 0,
    failed: {},
    hung: 0,
    hungTurns: [],
    lostChunks: 0,
    duplicatedChunks: 0,
    wrong: [],
    duplicatedTurns: 0,
    seconds: 0,
  };
  let finished = 0;
  let disrupted: Promise<void> | null = null;
  const turn = async (llm: AssistantLLM, s: number, t: number): Promise<void> => {
    const message = (s + t) % 3 === 0 ? `tool ${s}/${t}` : `plain ${s}/${t}`;
    const expected = tokenize(
      message.startsWith('tool') ? `found {"s":${s}}` : `You said: ${message}`,
    );
    const chunks: string[] = [];
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<'hung'>(
      (resolve) => (timer = setTimeout(() => resolve('hung'), HUNG_MS)),
    );
    const run = (async () => {
      for await (const chunk of llm.process(message)) chunks.push(chunk);
    })().then(
      () => 'done' as const,
      (error: unknown) => error,
    );
    const outcome = await Promise.race([run, hung]);
    clearTimeout(timer);
    if (outcome === 'hung') {
      tally.hung++;
      tally.hungTurns.push(`${message}: ${JSON.stringify(chunks)}`);
      void llm.interrupt();
      await run;
    } else if (outcome === 'done') {
      tally.completed++;
      // The text, not its chunking: a run taken over on Assistants delivers the rest of its
      // text in one piece (README, Crash recovery).
      if (chunks.join('') !== expected.join('')) {
        tally.wrong.push(`${message}: ${JSON.stringify(chunks)}`);
        tally.lostChunks += Math.max(0, expected.length - chunks.length);
        tally.duplicatedChunks += Math.max(0, chunks.length - expected.length);
      }
    } else if (outcome instanceof RunError) {
      const code = (outcome as RunError & { code?: string }).code ?? 'unknown';
      tally.failed[code] = (tally.failed[code] ?? 0) + 1;
    } else if (outcome instanceof InterruptionError) {
      tally.failed.interrupted = (tally.failed.interrupted ?? 0) + 1;
    } else {
      // Loud too: the caller got an error (for example Redis unreachable while sending outputs).
      tally.failed.error = (tally.failed.error ?? 0) + 1;
    }
    finished++;
    if (!disrupted && finished >= tally.turns * 0.3) disrupted = disrupt();
  };
  const sessions = Array.from({ length: SESSIONS }, (_, s) => {
    const session = { room: `failover-${s % 5}`, participant: `p${s}` };
    // A job lost with its primary fails the turn (queue_timeout) well before it counts as hung.
    const llm = fleetLLM('assistants', names, session, {
      transport: { redis: REDIS_URL, ...names, session, queueTimeoutMs: 10_000 },
    });
    llm.onToolCallCreated = async () => ({ s });
    return llm;
  });
  const started = Date.now();
  await Promise.all(
    sessions.map(async (llm, s) => {
      for (let t = 0; t < TURNS; t++) await turn(llm, s, t);
    }),
  );
  tally.seconds = (Date.now() - started) / 1000;
  await disrupted;
  for (const llm of sessions) {
    if (!llm.threadId) continue;
    const texts: string[] = [];
    for await (const m of fx.client.beta.threads.messages.list(llm.threadId, {
      order: 'asc',
      limit: 100,
    })) {
      if (m.role === 'user' && m.content[0]?.type === 'text') texts.push(m.content[0].text.value);
    }
    tally.duplicatedTurns += texts.length - new Set(texts).size;
  }
  await Promise.all(sessions.map((llm) => llm.aclose()));
  return tally;
}

describe('Redis Cluster failover during a soak', () => {
  let redis: Cluster;
  let started = false;

  beforeAll(() => {
    expect(ON_CLUSTER).toBe(true);
    started = cluster('start').trim() === 'started';
    redis = openRedis() as Cluster;
  }, 60_000);

  afterAll(() => {
    redis?.disconnect();
    if (started) cluster('stop');
  });

  const workersFor = async (names: FleetNames): Promise<WorkerProcess[]> =>
    Promise.all([startWorker(names, fx.baseURL), startWorker(names, fx.baseURL)]);

  it('a coordinated failover (CLUSTER FAILOVER) of the queue slot primary: 0 chunks and 0 turns lost or duplicated', async () => {
    const names = uniqueNames('failover');
    const workers = await workersFor(names);
    let promoted = '';
    const tally = await soak(names, async () => {
      const primary = await queuePrimary(redis, names);
      const replica = await replicaOf(redis, primary);
      const node = direct(replica);
      try {
        expect(await node.cluster('FAILOVER')).toBe('OK');
        await until(async () => (await node.role())[0] === 'master', `${replica} to be promoted`);
        promoted = replica;
      } finally {
        node.disconnect();
      }
    });
    console.log(`coordinated failover: ${JSON.stringify(tally)}`);
    expect(promoted).not.toBe('');
    expect(await queuePrimary(redis, names)).toBe(promoted);
    expect(tally).toMatchObject({
      completed: SESSIONS * TURNS,
      failed: {},
      hung: 0,
      hungTurns: [],
      lostChunks: 0,
      duplicatedChunks: 0,
      wrong: [],
      duplicatedTurns: 0,
    });
    expect(await Promise.all(workers.map((w) => w.stop()))).toEqual([0, 0]);
  }, 240_000);

  it('a primary killed (SIGKILL), its replica promoted: losses are counted and never silent', async () => {
    const names = uniqueNames('killed');
    const workers = await workersFor(names);
    let killed = '';
    const tally = await soak(names, async () => {
      const primary = await queuePrimary(redis, names);
      const node = direct(primary);
      const info = await node.info('server');
      node.disconnect();
      const pid = Number(/process_id:(\d+)/.exec(info)![1]);
      process.kill(pid, 'SIGKILL');
      killed = primary;
      const survivor = direct((await primaries(redis)).find((p) => p.address !== primary)!.address);
      try {
        await until(
          async () =>
            ((await survivor.cluster('INFO')) as string).includes('cluster_state:ok') &&
            !((await survivor.cluster('NODES')) as string)
              .split('\n')
              .some(
                (line) =>
                  line.includes(primary) && line.includes('master') && !line.includes('fail'),
              ),
          'the replica to be promoted',
          // The election waits out the node timeout (2 s); a busy machine makes it slower.
          60_000,
        );
      } finally {
        survivor.disconnect();
      }
    });
    console.log(`primary killed: ${JSON.stringify(tally)}`);
    if (tally.hung > 0) {
      for (const w of workers)
        console.log(
          w
            .output()
            .split('\n')
            .filter((l) => /"level":[45]0/.test(l))
            .slice(-30)
            .join('\n'),
        );
    }
    expect(killed).not.toBe('');
    // Never silent: every turn delivered exactly its text or failed with a RunError.
    expect(tally.hung).toBe(0);
    expect(tally.wrong).toEqual([]);
    expect(tally.duplicatedChunks).toBe(0);
    expect(tally.duplicatedTurns).toBe(0);
    const failed = Object.values(tally.failed).reduce((a, b) => a + b, 0);
    expect(tally.completed + failed).toBe(SESSIONS * TURNS);
    await Promise.all(workers.map((w) => w.stop()));
  }, 300_000);
});
