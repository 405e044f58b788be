/**
 * A local OpenAI-compatible server for tests, demos and benchmarks. It speaks the Assistants API
 * v2 and the Responses + Conversations APIs over real HTTP and server-sent events, so the
 * official `openai` SDK talks to it through `baseURL`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AssistantsProtocol, DEFAULT_ASSISTANT_ID } from './assistants.js';
import { EmulatorContext, type CapturedEvent, type Protocol } from './context.js';
import { HttpError, readJson, sendError } from './http.js';
import { ResponsesProtocol } from './responses.js';
import type { ScriptRule } from './script.js';

/** Options of the local server. */
export interface EmulatorOptions {
  /** Rules choosing a script per request; the first match wins. */
  scripts?: ScriptRule[];
  /** Protocols served; a missing one answers 404 as OpenAI does for the Assistants API today. */
  protocols?: Protocol[];
  /** Delay before each text delta, in ms. Default 0. */
  tokenDelayMs?: number;
  /** How long a run may wait for tool outputs before it expires. Default 600 000 ms. */
  requiresActionTimeoutMs?: number;
  /** Keep every request's method, path and body in `requests`. Default true. */
  recordRequests?: boolean;
  /** Keep every streamed event in `events`. Default true. */
  recordEvents?: boolean;
}

/** A request the local server received, with the status it answered. */
export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
  status?: number;
}

/** The local OpenAI-compatible server: listen(), point the SDK's baseURL at it, close(). */
export class EmulatorServer {
  readonly requests: RecordedRequest[] = [];
  readonly events: CapturedEvent[] = [];
  readonly #assistants: AssistantsProtocol;
  readonly #responses: ResponsesProtocol;
  readonly scripts: ScriptRule[];
  readonly #protocols: Set<Protocol>;
  readonly #context: EmulatorContext;
  #server: Server | null = null;
  readonly #options: EmulatorOptions;

  constructor(options: EmulatorOptions = {}) {
    this.#options = options;
    this.scripts = options.scripts ?? [];
    this.#protocols = new Set(options.protocols ?? ['assistants', 'responses']);
    this.#context = new EmulatorContext(
      this.scripts,
      {
        tokenDelayMs: options.tokenDelayMs ?? 0,
        requiresActionTimeoutMs: options.requiresActionTimeoutMs ?? 600_000,
      },
      (event) => {
        if (options.recordEvents !== false) this.events.push(event);
      },
    );
    this.#assistants = new AssistantsProtocol(this.#context);
    this.#responses = new ResponsesProtocol(this.#context);
  }

  /** The assistant every emulator has, for examples that need an id. */
  static readonly defaultAssistantId = DEFAULT_ASSISTANT_ID;

  /** Creates an assistant as POST /v1/assistants would; returns its id. */
  addAssistant(definition: {
    id?: string;
    model?: string;
    instructions?: string;
    tools?: unknown[];
  }): string {
    return this.#assistants.createAssistant(definition as Record<string, unknown>, definition.id)
      .id;
  }

  /** Stores a prompt for the Responses API's `prompt: { id }`. */
  addPrompt(id: string, prompt: { instructions: string; model?: string }): void {
    this.#responses.prompts.set(id, prompt);
  }

  /** Adds a rule in front of the others. */
  addScript(rule: ScriptRule): void {
    this.scripts.unshift(rule);
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => void this.#dispatch(req, res));
    // Idle connections are the client's to close (undici does after 4 s). A server that closes
    // one can race a request the client has just sent on it, which then fails with ECONNRESET.
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    this.#server = server;
    return this.baseURL;
  }

  get baseURL(): string {
    if (!this.#server) throw new Error('The emulator is not listening; call listen() first.');
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/v1`;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forgets recorded requests and events (state such as threads is kept). */
  clearRecords(): void {
    this.requests.length = 0;
    this.events.length = 0;
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const method = req.method ?? 'GET';
    let record: RecordedRequest | undefined;
    try {
      const auth = req.headers.authorization;
      if (!auth || !/^Bearer \S+/.test(auth)) {
        throw new HttpError(
          401,
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
          null,
          'invalid_request_error',
        );
      }
      const body = await readJson(req);
      if (this.#options.recordRequests !== false) {
        record = { method, path: url.pathname, body };
        this.requests.push(record);
      }
      const segments = url.pathname.split('/').filter(Boolean);
      if (segments[0] !== 'v1') throw new HttpError(404, `Invalid URL (${method} ${url.pathname})`);
      const path = segments.slice(1);
      const handled = await this.#route(method, path, body, url.searchParams, res);
      if (!handled) throw new HttpError(404, `Invalid URL (${method} ${url.pathname})`);
    } catch (error) {
      const httpError =
        error instanceof HttpError
          ? error
          : new HttpError(500, `The emulator failed: ${(error as Error).message}`, 'server_error');
      if (record) record.status = httpError.status;
      if (!res.headersSent) sendError(res, httpError);
      else res.end();
    }
  }

  async #route(
    method: string,
    path: string[],
    body: Record<string, unknown>,
    query: URLSearchParams,
    res: ServerResponse,
  ): Promise<boolean> {
    const root = path[0];
    if (root === 'assistants' || root === 'threads') {
      if (!this.#protocols.has('assistants')) return false;
      return this.#assistants.handle(method, path, body, query, res);
    }
    if (root === 'responses' || root === 'conversations') {
      if (!this.#protocols.has('responses')) return false;
      return this.#responses.handle(method, path, body, query, res);
    }
    if (root === 'models' && method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: [{ id: 'emulator-1', object: 'model', created: 0, owned_by: 'emulator' }],
        }),
      );
      return true;
    }
    return false;
  }
}
