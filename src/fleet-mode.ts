/**
 * Fleet mode as the core sees it: the options that ask for it, and the fleet itself, loaded the
 * first time a Redis transport is needed. Until then nothing of BullMQ or ioredis is opened, so
 * a single-process user neither loads nor installs them.
 */
import { ConfigError } from './errors.js';
import type { RunEvent, ToolOutput } from './events.js';
import type { RunRequest } from './backends/backend.js';
import type { BackendConfig } from './backends/config.js';
import type { Logger } from './logger.js';
import type { SessionIdentity } from './session.js';
import type { RunChannel, RunTransport } from './transport.js';
import {
  importOptional,
  missingPackages,
  missingPackagesMessage,
} from './util/optional-packages.js';

/**
 * Options for fleet mode, given as AssistantLLM's `transport`: runs then execute in
 * `assistant-host worker` processes and their events come back over Redis.
 */
export interface FleetTransportOptions {
  /**
   * One Redis: a URL (`redis://host:port/db`, `rediss://` for TLS) or ioredis's `RedisOptions`
   * object, passed to ioredis as it is. A Redis Cluster: its seed nodes as a list of URLs
   * (`['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379']`), one string of URLs separated by
   * commas, or `{ cluster: [...urls or { host, port }], options: ClusterOptions }`; ioredis's
   * `Cluster` client then finds the other nodes.
   */
  redis: string | readonly string[] | object;
  /** The session these runs belong to; its thread id is kept in Redis. Default: a new random session. */
  session?: SessionIdentity;
  /** Key prefix: 1 to 64 letters, digits, '_', '.' or '-'. Workers must use the same. Default 'ast'. */
  prefix?: string;
  /** BullMQ queue name. Workers must use the same. Default 'assistant-runs'. */
  queue?: string;
  /**
   * Queue shards: runs go to this many queues (`<queue>-0` ...), each session always to the same
   * one, so that one queue (one slot on a cluster) is not the ceiling of run starts. Workers must
   * use the same. Default 1 (the queue `<queue>` itself).
   */
  queues?: number;
  /** A run no worker has started after this long fails with code `queue_timeout`. Default 60 000. */
  queueTimeoutMs?: number;
  /** How long cancel() waits for the worker to confirm. Default 30 000. */
  cancelTimeoutMs?: number;
  /**
   * Where Redis trouble is reported. Default: AssistantLLM's logger. The connections are shared
   * by every transport of the process with the same Redis, prefix and queue; they report to the
   * logger of the transport that opened them.
   */
  logger?: Logger;
}

/** The shape every Redis key prefix must have. */
export const KEY_PREFIX_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** What the core uses of the `./fleet` entry. */
export interface FleetEntry {
  createRedisTransport(options: FleetTransportOptions): RunTransport;
}

/** The packages a room process needs for fleet mode. */
export const FLEET_PACKAGES = ['bullmq', 'ioredis'] as const;

/**
 * The fleet, by the package's own `./fleet` entry (a self-reference, resolved through
 * package.json "exports"), so the core names no file of the fleet's folder.
 */
const FLEET_ENTRY = '@livekit/agents-plugin-assistant/fleet';

function missingError(missing: string[], cause?: unknown): ConfigError {
  const error = new ConfigError(
    'transport',
    missingPackagesMessage('fleet mode (a Redis transport)', missing),
  );
  if (cause !== undefined) error.cause = cause;
  return error;
}

/** Throws ConfigError naming the packages to install when fleet mode cannot load. */
export function assertFleetInstalled(): void {
  const missing = missingPackages(FLEET_PACKAGES);
  if (missing.length > 0) throw missingError(missing);
}

/**
 * Loads the fleet. `load` is how: by default the `./fleet` entry; tests pass another importer
 * to see what a user without the fleet's packages would see.
 */
export function loadFleet(
  load: () => Promise<unknown> = () => import(FLEET_ENTRY),
): Promise<FleetEntry> {
  return importOptional(load, FLEET_PACKAGES, missingError) as Promise<FleetEntry>;
}

/**
 * A Redis transport that exists before the fleet is loaded: the constructor of AssistantLLM is
 * synchronous, the import is not. Runs started meanwhile wait for it.
 */
export class DeferredFleetTransport implements RunTransport {
  readonly #transport: Promise<RunTransport>;
  #loaded: RunTransport | undefined;

  constructor(options: FleetTransportOptions, load?: () => Promise<unknown>) {
    this.#transport = loadFleet(load).then((fleet) => {
      this.#loaded = fleet.createRedisTransport(options);
      return this.#loaded;
    });
    // A load failure is reported to each run that needs the transport; none may need it.
    this.#transport.catch(() => undefined);
  }

  startRun(request: RunRequest, backend: BackendConfig): RunChannel {
    if (this.#loaded) return this.#loaded.startRun(request, backend);
    const channel = this.#transport.then((transport) => transport.startRun(request, backend));
    // Handled by whoever iterates, submits or cancels; a run cancelled before it starts never
    // iterates, and its load failure needs no second report.
    channel.catch(() => undefined);
    return {
      async *[Symbol.asyncIterator](): AsyncGenerator<RunEvent> {
        yield* await channel;
      },
      async submitToolOutputs(outputs: ToolOutput[]): Promise<void> {
        await (await channel).submitToolOutputs(outputs);
      },
      async cancel(): Promise<void> {
        const started = await channel.catch(() => null);
        await started?.cancel();
      },
    };
  }

  async close(): Promise<void> {
    const transport = await this.#transport.catch(() => null);
    await transport?.close();
  }
}
