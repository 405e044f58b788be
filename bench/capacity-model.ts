/**
 * The capacity model: from CPU figures the capacity bench measures (bench/capacity.ts) and stated
 * traffic assumptions, what a fleet of N concurrent voice sessions needs. Pure arithmetic, so the
 * sizing table in bench/RESULTS.md and the README can be regenerated from a bench run, and
 * test/unit/capacity-model.test.ts checks it.
 */

/** CPU microseconds per unit of work, medians over the bench's windows. */
export interface MeasuredFigures {
  /** Where they were measured, e.g. "single node" or "cluster 3+3". */
  label: string;
  /** CPU µs per delivered chunk in the room process (AssistantLLM in fleet mode). */
  roomUsPerChunk: number;
  /** CPU µs per delivered chunk in the worker. */
  workerUsPerChunk: number;
  /** Redis CPU µs per delivered chunk (all primaries together). */
  redisUsPerChunk: number;
  /** CPU µs per run start in the room process, the worker and Redis. */
  roomUsPerStart: number;
  workerUsPerStart: number;
  redisUsPerStart: number;
  /**
   * Redis CPU µs per job of BullMQ alone with the fleet's job options: the part of a run start
   * that lands on the queue's slot, hence on one primary whatever the cluster's size.
   */
  queueRedisUsPerJob: number;
  /** Run starts per second one BullMQ queue sustained in the bench (end to end). */
  measuredStartsPerSecond: number;
}

/** Traffic of one voice session and the headroom kept on every process. */
export interface Assumptions {
  /** Tokens per second the assistant's reply streams at while it speaks. */
  tokensPerSecondSpeaking: number;
  /** Share of the session's time the assistant speaks (0..1). */
  speakingShare: number;
  /** Assistant turns (runs) per session per minute. */
  turnsPerMinute: number;
  /** Streamed chunks (text deltas) per token. */
  chunksPerToken: number;
  /** Share of a core a Node.js process (room, worker) is planned at (0..1]. */
  nodeUtilization: number;
  /** Share of its one core a Redis primary is planned at (0..1]. */
  redisUtilization: number;
}

export const DEFAULT_ASSUMPTIONS: Assumptions = {
  // Speech runs at about 150 words a minute, about 3.3 tokens a second; rounded up.
  tokensPerSecondSpeaking: 4,
  speakingShare: 0.5,
  turnsPerMinute: 6,
  // OpenAI's streams carry about one token per text delta.
  chunksPerToken: 1,
  nodeUtilization: 0.6,
  redisUtilization: 0.5,
};

export interface SizingRow {
  sessions: number;
  chunksPerSecond: number;
  startsPerSecond: number;
  /** Cores the workers need at nodeUtilization (one worker process per core). */
  workerCores: number;
  /** Room processes (one core each at nodeUtilization), for the plugin's share of their CPU. */
  roomProcesses: number;
  /** Redis primaries: by CPU at redisUtilization, and at least one per queue shard. */
  redisPrimaries: number;
  /** BullMQ queues the sessions are hashed over; 1 while one queue's slot suffices. */
  queueShards: number;
  /** Run starts per second one queue is planned for: its primary's core at redisUtilization. */
  startsPerQueue: number;
  /** Which measured figure dominates each resource, in words. */
  restsOn: string;
}

function checkPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${name}: expected a positive finite number, got ${value}`);
}

function checkShare(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0 || value > 1)
    throw new RangeError(`${name}: expected a share in (0, 1], got ${value}`);
}

export function checkFigures(f: MeasuredFigures): void {
  for (const key of [
    'roomUsPerChunk',
    'workerUsPerChunk',
    'redisUsPerChunk',
    'roomUsPerStart',
    'workerUsPerStart',
    'redisUsPerStart',
    'queueRedisUsPerJob',
    'measuredStartsPerSecond',
  ] as const)
    checkPositive(`figures.${key}`, f[key]);
}

export function checkAssumptions(a: Assumptions): void {
  checkPositive('assumptions.tokensPerSecondSpeaking', a.tokensPerSecondSpeaking);
  checkShare('assumptions.speakingShare', a.speakingShare);
  checkPositive('assumptions.turnsPerMinute', a.turnsPerMinute);
  checkPositive('assumptions.chunksPerToken', a.chunksPerToken);
  checkShare('assumptions.nodeUtilization', a.nodeUtilization);
  checkShare('assumptions.redisUtilization', a.redisUtilization);
}

/** Cores for `chunks` and `starts` per second at `usPerChunk` and `usPerStart`. */
function cores(chunks: number, starts: number, usPerChunk: number, usPerStart: number): number {
  return (chunks * usPerChunk + starts * usPerStart) / 1e6;
}

/** Whichever of chunks and run starts takes most of a resource's CPU, with its figure and share. */
function dominant(
  name: string,
  chunkCores: number,
  startCores: number,
  usChunk: number,
  usStart: number,
): string {
  const byChunks = chunkCores >= startCores;
  const figure = byChunks ? `${round1(usChunk)} µs/chunk` : `${round1(usStart)} µs/start`;
  const share = Math.round((Math.max(chunkCores, startCores) / (chunkCores + startCores)) * 100);
  return `${name} ${figure} (${share} %)`;
}

/** One decimal below 100, whole numbers with thousands separators above. */
function round1(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  return String(Math.round(value * 10) / 10);
}

/** What `sessions` concurrent voice sessions need, from measured figures and assumptions. */
export function sizeFleet(
  sessions: number,
  figures: MeasuredFigures,
  assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
): SizingRow {
  checkPositive('sessions', sessions);
  checkFigures(figures);
  checkAssumptions(assumptions);
  const a = assumptions;
  const f = figures;
  const chunksPerSecond = sessions * a.tokensPerSecondSpeaking * a.speakingShare * a.chunksPerToken;
  const startsPerSecond = (sessions * a.turnsPerMinute) / 60;

  const worker = cores(chunksPerSecond, startsPerSecond, f.workerUsPerChunk, f.workerUsPerStart);
  const room = cores(chunksPerSecond, startsPerSecond, f.roomUsPerChunk, f.roomUsPerStart);
  const redis = cores(chunksPerSecond, startsPerSecond, f.redisUsPerChunk, f.redisUsPerStart);

  // One queue's keys share one slot, hence one primary's core; the sessions' keys spread over all.
  const startsPerQueue = (1e6 / f.queueRedisUsPerJob) * a.redisUtilization;
  const queueShards = Math.max(1, Math.ceil(startsPerSecond / startsPerQueue));
  const redisPrimaries = Math.max(queueShards, Math.ceil(redis / a.redisUtilization));

  const restsOn = [
    dominant(
      'worker',
      chunksPerSecond * f.workerUsPerChunk,
      startsPerSecond * f.workerUsPerStart,
      f.workerUsPerChunk,
      f.workerUsPerStart,
    ),
    dominant(
      'room',
      chunksPerSecond * f.roomUsPerChunk,
      startsPerSecond * f.roomUsPerStart,
      f.roomUsPerChunk,
      f.roomUsPerStart,
    ),
    dominant(
      'Redis',
      chunksPerSecond * f.redisUsPerChunk,
      startsPerSecond * f.redisUsPerStart,
      f.redisUsPerChunk,
      f.redisUsPerStart,
    ),
    queueShards > 1
      ? `queue's slot is the ceiling: ${round1(startsPerSecond)} starts/s over ${round1(startsPerQueue)} per queue (BullMQ ${round1(f.queueRedisUsPerJob)} Redis µs/job)`
      : `queue ${round1(startsPerSecond)} of ${round1(startsPerQueue)} starts/s (BullMQ ${round1(f.queueRedisUsPerJob)} Redis µs/job)`,
  ].join('; ');

  return {
    sessions,
    chunksPerSecond,
    startsPerSecond,
    workerCores: Math.ceil(worker / a.nodeUtilization),
    roomProcesses: Math.max(1, Math.ceil(room / a.nodeUtilization)),
    redisPrimaries,
    queueShards,
    startsPerQueue,
    restsOn,
  };
}

export const SIZES = [1_000, 10_000, 100_000] as const;

/** The sizing table as Markdown rows (header first), for the bench's output and RESULTS.md. */
export function sizingTable(
  figures: MeasuredFigures,
  assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
  sizes: readonly number[] = SIZES,
): { headers: string[]; rows: Array<Array<string | number>> } {
  const headers = [
    'sessions',
    'chunks/s',
    'run starts/s',
    'worker cores',
    'room processes',
    'Redis primaries',
    'queue shards',
    'rests on (measured, ' + figures.label + ')',
  ];
  const rows = sizes.map((n) => {
    const r = sizeFleet(n, figures, assumptions);
    return [
      r.sessions,
      Math.round(r.chunksPerSecond),
      Math.round(r.startsPerSecond),
      r.workerCores,
      r.roomProcesses,
      r.redisPrimaries,
      r.queueShards,
      r.restsOn,
    ];
  });
  return { headers, rows };
}

/** The assumptions in one line, for the table's caption. */
export function describeAssumptions(a: Assumptions = DEFAULT_ASSUMPTIONS): string {
  return (
    `${a.tokensPerSecondSpeaking} tokens/s while the assistant speaks, speaking ${Math.round(a.speakingShare * 100)} % of the time, ` +
    `${a.turnsPerMinute} turns/min, ${a.chunksPerToken} chunk per token; ` +
    `Node.js processes planned at ${Math.round(a.nodeUtilization * 100)} % of a core, Redis primaries at ${Math.round(a.redisUtilization * 100)} %`
  );
}
