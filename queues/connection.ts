/**
 * Redis connection settings shared by rooms, workers and the board, and the one factory that opens
 * every connection of the fleet: a single Redis (ioredis `Redis`) or a Redis Cluster (ioredis
 * `Cluster`), chosen by the setting's shape:
 *
 * - `'redis://host:6379/0'` or ioredis `RedisOptions`: one Redis, as before;
 * - `['redis://a:7000', 'redis://b:7001']`, or one string with the URLs separated by commas
 *   (`REDIS_URL=redis://a:7000,redis://b:7001`): a cluster, from these seed nodes;
 * - `{ cluster: ['redis://a:7000', { host: 'b', port: 7001 }], options: {...} }`: a cluster with
 *   ioredis `ClusterOptions`.
 *
 * URLs may carry a user and password; they are never written into an error message or a log line.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A Redis Cluster: seed nodes (URLs or host and port) and, optionally, ioredis ClusterOptions. */
export interface RedisClusterConnection {
  cluster: ReadonlyArray<string | { host: string; port: number }>;
  options?: ClusterOptions;
}

/**
 * A Redis URL (redis://, rediss://), ioredis options, or Redis Cluster seed nodes: a list of URLs,
 * a string of URLs separated by commas, or `{ cluster, options }`.
 */
export type RedisConnection = string | readonly string[] | RedisOptions | RedisClusterConnection;

/** A connection setting, checked and resolved: what connect() opens. */
export type ResolvedConnection =
  | { kind: 'single'; options: RedisOptions }
  | {
      kind: 'cluster';
      nodes: Array<{ host: string; port: number }>;
      options: ClusterOptions;
    };

/** A connection of either kind; the fleet uses only what both have. */
export type FleetRedis = Redis | Cluster;

/** Checks a connection setting and resolves it; `field` names it in errors. */
export function resolveConnection(
  connection: RedisConnection | ResolvedConnection,
  field = 'redis',
): ResolvedConnection {
  if (isResolved(connection)) return connection;
  if (typeof connection === 'string') {
    if (connection.includes(',')) {
      return clusterOf(
        connection.split(',').map((url) => url.trim()),
        {},
        field,
      );
    }
    return single(parseRedisUrl(connection, field));
  }
  if (Array.isArray(connection)) return clusterOf(connection as readonly string[], {}, field);
  if (connection === null || typeof connection !== 'object') {
    throw new Error(
      `${field}: expected a Redis URL, a list of cluster node URLs, ioredis options or { cluster: [...] }, got ${typeof connection}`,
    );
  }
  if ('cluster' in connection) {
    const { cluster, options } = connection as RedisClusterConnection;
    if (!Array.isArray(cluster)) {
      throw new Error(`${field}.cluster: expected a list of node URLs or { host, port }`);
    }
    return clusterOf(cluster, options ?? {}, field);
  }
  return single({ ...(connection as RedisOptions) });
}

/** True when the setting names a Redis Cluster. */
export function isClusterConnection(connection: RedisConnection | ResolvedConnection): boolean {
  return resolveConnection(connection).kind === 'cluster';
}

/**
 * ioredis options of a single-node setting (BullMQ needs maxRetriesPerRequest: null). Throws,
 * naming the field, for a cluster: a cluster has no single set of options.
 */
export function redisOptions(connection: RedisConnection, field = 'redis'): RedisOptions {
  const resolved = resolveConnection(connection, field);
  if (resolved.kind === 'cluster') {
    throw new Error(`${field}: expected a single Redis here, got a Redis Cluster`);
  }
  return resolved.options;
}

/** Per-connection settings: a name for CLIENT LIST, auto-pipelining. */
export interface ConnectExtras {
  connectionName?: string;
  enableAutoPipelining?: boolean;
}

/**
 * Opens a connection: `Redis` for one node, `Cluster` for a cluster. Every connection of the fleet
 * is opened here (BullMQ's too, on a cluster: it is handed the instance).
 */
export function connect(
  connection: RedisConnection | ResolvedConnection,
  extras: ConnectExtras = {},
): FleetRedis {
  const resolved = resolveConnection(connection);
  if (resolved.kind === 'single') return new Redis({ ...resolved.options, ...extras });
  const { enableAutoPipelining, connectionName } = extras;
  return new Cluster(resolved.nodes, {
    ...resolved.options,
    ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
    redisOptions: {
      ...resolved.options.redisOptions,
      ...(connectionName ? { connectionName } : {}),
      maxRetriesPerRequest: null,
    },
  });
}

function single(options: RedisOptions): ResolvedConnection {
  return {
    kind: 'single',
    options: { ...options, maxRetriesPerRequest: null, enableReadyCheck: true },
  };
}

function clusterOf(
  nodes: ReadonlyArray<unknown>,
  options: ClusterOptions,
  field: string,
): ResolvedConnection {
  if (nodes.length === 0) {
    throw new Error(`${field}: expected at least one cluster node, got an empty list`);
  }
  const seeds: Array<{ host: string; port: number }> = [];
  let credentials: Pick<RedisOptions, 'username' | 'password' | 'tls'> = {};
  nodes.forEach((node, i) => {
    const at = `${field}[${i}]`;
    if (typeof node === 'string') {
      const parsed = parseRedisUrl(node, at);
      if (parsed.db) {
        throw new Error(`${at}: Redis Cluster has only database 0, got database ${parsed.db}`);
      }
      seeds.push({ host: parsed.host!, port: parsed.port! });
      // One set of credentials for the cluster: the first URL that has some.
      if (!credentials.password && !credentials.username && (parsed.password || parsed.username)) {
        credentials = {
          ...(parsed.username ? { username: parsed.username } : {}),
          ...(parsed.password ? { password: parsed.password } : {}),
        };
      }
      if (parsed.tls) credentials = { ...credentials, tls: {} };
      return;
    }
    const host = (node as { host?: unknown } | null)?.host;
    const port = (node as { port?: unknown } | null)?.port;
    if (typeof host !== 'string' || !Number.isInteger(port)) {
      throw new Error(`${at}: expected a redis:// URL or { host, port }`);
    }
    seeds.push({ host, port: port as number });
  });
  return {
    kind: 'cluster',
    nodes: seeds,
    options: {
      // A primary's failover takes the cluster's node timeout and an election: commands wait it
      // out (up to about 10 s) rather than fail at once.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 200,
      maxRedirections: 50,
      ...options,
      redisOptions: { ...credentials, ...options.redisOptions, maxRetriesPerRequest: null },
    },
  };
}

function isResolved(value: unknown): value is ResolvedConnection {
  const kind = (value as { kind?: unknown } | null)?.kind;
  return (
    typeof value === 'object' &&
    value !== null &&
    (kind === 'single' || kind === 'cluster') &&
    'options' in value
  );
}

/** `url` with any user and password replaced, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}

function parseRedisUrl(url: string, field: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(
      `${field}: expected a URL such as redis://127.0.0.1:6379, got ${JSON.stringify(redactUrl(url))}`,
    );
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`${field}: expected a redis:// or rediss:// URL, got ${parsed.protocol}`);
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(Number.isInteger(db) ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * The slot of `key` on a Redis Cluster: CRC16 (XMODEM) of its hash tag (the text between the
 * first '{' and the next '}', if not empty) or of the whole key, modulo 16384.
 */
export function keySlot(key: string): number {
  let text = key;
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) text = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(text, 'utf8')) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % 16384;
}
