/**
 * The fleet soak, shared by test/fleet-soak.test.ts and the resume bench: many sessions take
 * turns (plain, tool calls, long replies, some interrupted) through real worker processes while
 * workers are killed (SIGKILL, then replaced) or paused (SIGSTOP past detection, then SIGCONT).
 * It accounts for every turn (completed, interrupted, failed because of a kill, failed otherwise)
 * and for every word of every reply: each reply is made of distinct words, so a word that
 * arrived twice is a duplicated chunk and a word missing before the last one that arrived (or
 * from a completed reply) is a lost chunk. Nothing here depends on vitest.
 */
import type OpenAI from 'openai';
import { InterruptionError, RunError, type AssistantLLM } from '../../src/index.js';
import type { ScriptRule } from '../../src/testing.js';
import { userMessages, type Api } from './assistant.js';
import type { StartOptions } from './cli.js';
import { fleetLLM, startWorker, type FleetNames, type WorkerProcess } from './fleet.js';
import { busyWorkers } from './resume.js';

/** A fault the soak injects once `at` (a share of all turns, 0..1) have finished. */
export type SoakFault =
  | { at: number; kind: 'kill' }
  /** SIGSTOP for `ms`, then SIGCONT. */
  | { at: number; kind: 'pause'; ms: number };

export interface SoakOptions {
  api: Api;
  /** The emulator's base URL; it must serve SOAK_SCRIPTS. */
  baseURL: string;
  /** A client of the same emulator, to read the threads afterwards. */
  client: OpenAI;
  names: FleetNames;
  sessions: number;
  turns: number;
  /** Workers at the start. Default 2. */
  workers?: number;
  /** More CLI arguments for every worker. */
  workerArgs?: string[];
  /** How worker processes are started (e.g. a longer ready timeout on a busy machine). */
  start?: StartOptions;
  faults?: SoakFault[];
  /** Start a new worker for each one killed. Default true. */
  replaceKilled?: boolean;
  /** Seed of the turn mix. */
  seed?: number;
  /** Called with a line of progress now and then (faults, the end). */
  log?: (line: string) => void;
}

export interface SoakReport {
  turns: number;
  completed: number;
  interrupted: number;
  /** Turns that ended with RunError `worker_lost`: what a kill or a pause cost the caller. */
  failedByKill: number;
  /** Of those, turns that had received part of their reply: a kill mid-reply. */
  failedByKillMidReply: number;
  /** Turns that ended with any other error. */
  failedOther: number;
  /** Words of replies that reached a caller, in all. */
  words: number;
  /** Words that reached a caller more than once (duplicated chunks). */
  duplicated: number;
  /** Words missing from a completed reply, or skipped before the last word that arrived. */
  lost: number;
  /** Replies that arrived out of order (a word before one it should follow). */
  outOfOrder: number;
  /** A few turns that went wrong, for the reader. */
  examples: string[];
  /** The turns that failed because of a fault: which, what they had received, when. */
  faultFailures: string[];
  /** User messages on the threads, and how many of them are there twice. */
  messages: number;
  duplicateMessages: number;
  /** What was injected, with the pid hit and when (ms after the start). */
  faults: Array<{ kind: SoakFault['kind']; pid: number; atMs: number; busy: number }>;
  seconds: number;
  /** Every worker started, including killed ones: the caller stops them. */
  workers: WorkerProcess[];
  sessions: AssistantLLM[];
}

const SLOW_WORDS = 30;
const LONG_WORDS = 40;

/** The emulator rules the soak's messages need. */
export const SOAK_SCRIPTS: ScriptRule[] = [
  {
    message: 'soak-tool',
    script: {
      tokenDelayMs: 10,
      steps: [
        { functionCalls: [{ name: 'lookup', arguments: { q: 'x' } }] },
        { text: (c) => `found ${c.toolOutputs[0]?.output}` },
      ],
    },
  },
  {
    message: 'soak-slow',
    script: {
      tokenDelayMs: 10,
      steps: [{ text: Array.from({ length: SLOW_WORDS }, (_, i) => `s${i}`).join(' ') }],
    },
  },
  {
    // Long enough to be mid-stream when a worker dies.
    message: 'soak-long',
    script: {
      tokenDelayMs: 25,
      steps: [{ text: Array.from({ length: LONG_WORDS }, (_, i) => `l${i}`).join(' ') }],
    },
  },
];

type Kind = 'tool' | 'slow' | 'long' | 'plain';

function expectedReply(kind: Kind, message: string, s: number): string {
  if (kind === 'tool') return `found {"s":${s}}`;
  if (kind === 'slow') return Array.from({ length: SLOW_WORDS }, (_, i) => `s${i}`).join(' ');
  if (kind === 'long') return Array.from({ length: LONG_WORDS }, (_, i) => `l${i}`).join(' ');
  return `You said: ${message}`;
}

/** Duplicated, lost and out-of-order words of `text` against `expected` (distinct words). */
export function compareWords(
  expected: string,
  text: string,
  whole: boolean,
): { words: number; duplicated: number; lost: number; outOfOrder: boolean } {
  const want = expected.split(/\s+/).filter(Boolean);
  const got = text.split(/\s+/).filter(Boolean);
  const position = new Map(want.map((w, i) => [w, i]));
  const seen = new Set<string>();
  let duplicated = 0;
  let outOfOrder = false;
  let last = -1;
  for (const word of got) {
    if (seen.has(word)) duplicated++;
    seen.add(word);
    const at = position.get(word) ?? -1;
    if (at < last) outOfOrder = true;
    last = Math.max(last, at);
  }
  // A word split across two chunks still joins into the text; only whole words are compared.
  const upTo = whole ? want.length : last + 1;
  let lost = 0;
  for (let i = 0; i < upTo; i++) if (!seen.has(want[i]!)) lost++;
  return { words: got.length, duplicated, lost, outOfOrder };
}

/** Runs the soak; resolves once every turn ended. The caller stops report.workers. */
export async function soak(options: SoakOptions): Promise<SoakReport> {
  const { api, baseURL, client, names, sessions: sessionCount, turns } = options;
  const log = options.log ?? (() => undefined);
  const workerArgs = options.workerArgs ?? [];
  const alive: WorkerProcess[] = await Promise.all(
    Array.from({ length: options.workers ?? 2 }, () =>
      startWorker(names, baseURL, workerArgs, {}, options.start),
    ),
  );
  const all = [...alive];
  const paused = new Set<WorkerProcess>();
  let seed = options.seed ?? 7;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const report: SoakReport = {
    turns: sessionCount * turns,
    completed: 0,
    interrupted: 0,
    failedByKill: 0,
    failedByKillMidReply: 0,
    failedOther: 0,
    words: 0,
    duplicated: 0,
    lost: 0,
    outOfOrder: 0,
    examples: [],
    faultFailures: [],
    messages: 0,
    duplicateMessages: 0,
    faults: [],
    seconds: 0,
    workers: all,
    sessions: [],
  };
  const note = (line: string) => {
    if (report.examples.length < 20) report.examples.push(line);
  };
  let finished = 0;
  const started = Date.now();

  const turn = async (llm: AssistantLLM, s: number, t: number): Promise<void> => {
    const r = random();
    const kind: Kind = r < 0.2 ? 'tool' : r < 0.35 ? 'slow' : r < 0.6 ? 'long' : 'plain';
    const message = `soak-${kind} ${s}/${t}`;
    const expected = expectedReply(kind, message, s);
    const chunks: string[] = [];
    let outcome: 'completed' | 'interrupted' | 'kill' | 'other';
    try {
      for await (const chunk of llm.process(message)) {
        chunks.push(chunk);
        if (kind === 'slow' && chunks.length === 2) void llm.interrupt();
      }
      outcome = 'completed';
    } catch (error) {
      if (error instanceof InterruptionError) outcome = 'interrupted';
      else if (error instanceof RunError && error.reason === 'worker_lost') {
        outcome = 'kill';
        if (chunks.length > 0) report.failedByKillMidReply++;
        const last = report.faults[report.faults.length - 1];
        if (report.faultFailures.length < 20)
          report.faultFailures.push(
            `${message}: worker_lost after ${chunks.length} chunks, ${Date.now() - started} ms in` +
              (last ? `, ${Date.now() - started - last.atMs} ms after the ${last.kind}` : ''),
          );
      } else {
        outcome = 'other';
        note(`${message}: ${(error as Error).message}`);
      }
    }
    const text = chunks.join('');
    const words = compareWords(expected, text, outcome === 'completed');
    report.words += words.words;
    report.duplicated += words.duplicated;
    report.lost += words.lost;
    if (words.outOfOrder) report.outOfOrder++;
    if (words.duplicated + words.lost > 0 || words.outOfOrder)
      note(`${message} (${outcome}): ${JSON.stringify(text.slice(0, 200))}`);
    if (outcome === 'completed') report.completed++;
    else if (outcome === 'interrupted') report.interrupted++;
    else if (outcome === 'kill') report.failedByKill++;
    else report.failedOther++;
    finished++;
  };

  const faults = [...(options.faults ?? [])].sort((a, b) => a.at - b.at);
  let faultsDone = false;
  const injecting = (async () => {
    for (const fault of faults) {
      while (finished < report.turns * fault.at && finished < report.turns)
        await new Promise((r) => setTimeout(r, 20));
      if (finished >= report.turns) break;
      // The busiest worker, asked over /metrics (a paused one cannot answer, so it is left out).
      const candidates = alive.filter((w) => !paused.has(w));
      const busy = await busyWorkers(candidates).catch(() => []);
      const target = busy[0]?.worker ?? candidates[0];
      if (!target) break;
      report.faults.push({
        kind: fault.kind,
        pid: target.pid,
        atMs: Date.now() - started,
        busy: busy[0]?.active ?? 0,
      });
      log(`${fault.kind} worker ${target.pid} (${busy[0]?.active ?? 0} runs) at ${finished} turns`);
      if (fault.kind === 'kill') {
        target.child.kill('SIGKILL');
        alive.splice(alive.indexOf(target), 1);
        if (options.replaceKilled !== false) {
          const replacement = await startWorker(names, baseURL, workerArgs, {}, options.start);
          alive.push(replacement);
          all.push(replacement);
        }
      } else {
        paused.add(target);
        process.kill(target.pid, 'SIGSTOP');
        await new Promise((r) => setTimeout(r, fault.ms));
        process.kill(target.pid, 'SIGCONT');
        paused.delete(target);
      }
    }
    faultsDone = true;
  })();

  const sessions = Array.from({ length: sessionCount }, (_, s) => {
    const llm = fleetLLM(
      api,
      names,
      { room: `soak-${s % 10}`, participant: `p${s}-${started}` },
      api === 'responses' ? { background: true } : {},
    );
    llm.onToolCallCreated = async () => ({ s });
    return llm;
  });
  report.sessions = sessions;
  await Promise.all(
    sessions.map(async (llm, s) => {
      for (let t = 0; t < turns; t++) await turn(llm, s, t);
    }),
  );
  await injecting;
  report.seconds = (Date.now() - started) / 1000;
  if (!faultsDone) log('some faults were not injected: the turns ended first');

  // No thread holds a user message twice.
  for (const llm of sessions) {
    if (!llm.threadId) continue;
    const texts = await userMessages(client, api, llm.threadId);
    report.messages += texts.length;
    report.duplicateMessages += texts.length - new Set(texts).size;
  }
  log(summary(report));
  return report;
}

/** One line for logs and the bench. */
export function summary(r: SoakReport): string {
  return (
    `${r.turns} turns in ${r.seconds.toFixed(1)} s: ${r.completed} completed, ${r.interrupted} interrupted, ` +
    `${r.failedByKill} failed because of a kill (${r.failedByKillMidReply} mid-reply), ${r.failedOther} failed otherwise; ` +
    `${r.words} words delivered, ${r.duplicated} duplicated, ${r.lost} lost, ${r.outOfOrder} out of order; ` +
    `${r.messages} user messages, ${r.duplicateMessages} twice; faults: ` +
    (r.faults.map((f) => `${f.kind} (${f.busy} runs)`).join(', ') || 'none')
  );
}
