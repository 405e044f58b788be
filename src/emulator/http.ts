/** Small HTTP pieces shared by both protocols of the emulator: errors, JSON, SSE and event logs. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error answered in OpenAI's `{ error: { message, type, param, code } }` shape. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly type = status === 404 ? 'invalid_request_error' : statusType(status),
    readonly headers: Record<string, string> = {},
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

function statusType(status: number): string {
  if (status === 401) return 'invalid_request_error';
  if (status === 429) return 'rate_limit_exceeded';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

export function notFound(what: string, id: string): HttpError {
  return new HttpError(404, `No ${what} found with id '${id}'.`);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(
    res,
    error.status,
    { error: { message: error.message, type: error.type, param: error.param, code: error.code } },
    error.headers,
  );
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  const text = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'We could not parse the JSON body of your request.');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'The request body must be a JSON object.');
  }
  return body as Record<string, unknown>;
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** A server-sent event: its name and its data. */
export interface SseEvent {
  /** SSE `event:` name (the Assistants protocol names every event; Responses repeats `type`). */
  event: string;
  /** JSON-serialisable payload, or a raw string such as `[DONE]`. */
  data: unknown;
}

/**
 * The events of one run or response, kept so that late readers replay them (Responses
 * `starting_after`) and live readers follow. The run goes on whether or not anyone listens,
 * as on OpenAI.
 */
export class EventLog {
  readonly events: SseEvent[] = [];
  /** Open streams, each with the index of the first event it wants (a resume may ask ahead). */
  private readers = new Map<ServerResponse, number>();
  private ended = false;
  /** Every event appended, for tests that validate what the server sent. */
  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  append(event: SseEvent): void {
    if (this.ended) return;
    const index = this.events.push(event) - 1;
    this.onEvent(event);
    for (const [res, from] of this.readers) if (index >= from) writeSse(res, event);
  }

  /** Ends the log: readers' responses end after the last event. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const res of this.readers.keys()) res.end();
    this.readers.clear();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Streams events after index `from` (0 = all) and then follows until the log ends. */
  follow(res: ServerResponse, from = 0): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.flushHeaders();
    for (const event of this.events.slice(from)) writeSse(res, event);
    if (this.ended) {
      res.end();
      return;
    }
    this.readers.set(res, from);
    res.on('close', () => this.readers.delete(res));
  }

  /** Cuts every open stream without a proper end, as a broken network would. */
  dropReaders(): void {
    for (const res of this.readers.keys()) res.socket?.destroy();
    this.readers.clear();
  }

  /** Stops streaming to readers (the run itself goes on); used when a stream was only a view. */
  detachReaders(): void {
    for (const res of this.readers.keys()) res.end();
    this.readers.clear();
  }
}

function writeSse(res: ServerResponse, event: SseEvent): void {
  const data = typeof event.data === 'string' ? event.data : JSON.stringify(event.data);
  res.write(`event: ${event.event}\ndata: ${data}\n\n`);
}
