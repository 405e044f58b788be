import {
  AssistantLLM,
  InterruptionError,
  type AssistantOptions,
  type ToolCall,
} from '../../src/index.js';
import { DEFAULT_MODEL } from '../../src/models.js';
import { demoScripts, EmulatorServer } from '../../src/testing.js';
import { intSetting, settingName, UsageError, type Command } from '../kit.js';

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Get the current weather for a location',
    parameters: {
      type: 'object' as const,
      properties: {
        location: { type: 'string', description: 'City name or coordinates' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'], description: 'Temperature unit' },
      },
      required: ['location'],
    },
  },
};

const searchTool = {
  type: 'function' as const,
  function: {
    name: 'search_knowledge_base',
    description: 'Search the knowledge base for relevant information',
    parameters: {
      type: 'object' as const,
      properties: {
        query: { type: 'string', description: 'The search query' },
        max_results: { type: 'number', description: 'Maximum number of results to return' },
      },
      required: ['query'],
    },
  },
};

export const demoCommand: Command = {
  name: 'demo',
  summary:
    'Talk to an assistant through AssistantLLM: streamed text, tool calls and an interruption. Without OPENAI_API_KEY it starts the local server.',
  options: {
    api: {
      type: 'string',
      description: "Backend: 'assistants' or 'responses'",
      env: 'ASSISTANT_API',
      default: 'assistants',
    },
    'assistant-id': {
      type: 'string',
      description: 'Assistant id (asst_...) for the Assistants API',
      env: 'ASSISTANT_ID',
    },
    model: {
      type: 'string',
      description: 'Model for the Responses API',
      env: 'OPENAI_MODEL',
      default: DEFAULT_MODEL,
    },
    fleet: {
      type: 'string',
      description:
        'Redis URL (a Redis Cluster: seed node URLs separated by commas): run the demo in fleet mode, through `assistant-host worker` processes (which hold the OpenAI settings)',
      env: 'DEMO_FLEET_REDIS',
    },
    'token-delay-ms': {
      type: 'string',
      description: 'Local server only: delay before each streamed word',
      env: 'EMULATOR_TOKEN_DELAY_MS',
      default: '15',
    },
  },
  async run(values) {
    const api = values.api;
    if (api !== 'assistants' && api !== 'responses') {
      throw new UsageError(
        `${settingName(this, 'api')}: expected 'assistants' or 'responses', got ${JSON.stringify(api)}`,
      );
    }
    const tokenDelayMs = intSetting(this, values, 'token-delay-ms', 0, 10_000);
    let emulator: EmulatorServer | null = null;
    let connection: { baseURL?: string; apiKey?: string } = {};
    let assistantId =
      typeof values['assistant-id'] === 'string' ? values['assistant-id'] : undefined;
    let model = String(values.model);
    const fleet = typeof values.fleet === 'string' ? values.fleet : undefined;
    if (fleet) {
      // The workers hold the key and the server; the room only needs Redis.
      assistantId ??= EmulatorServer.defaultAssistantId;
      connection = { apiKey: 'unused-in-fleet-mode' };
      console.log(`Fleet mode: runs go through ${fleet} to assistant-host worker processes.`);
    } else if (!process.env.OPENAI_API_KEY) {
      emulator = new EmulatorServer({
        scripts: demoScripts(),
        tokenDelayMs,
        recordEvents: false,
        recordRequests: false,
      });
      const baseURL = await emulator.listen();
      connection = { baseURL, apiKey: 'sk-local-emulator' };
      assistantId = EmulatorServer.defaultAssistantId;
      model = 'emulator-1';
      console.log(
        `No OPENAI_API_KEY is set, so this demo uses the local OpenAI-compatible server at ${baseURL} (scripted replies).`,
      );
    } else if (api === 'assistants' && !assistantId) {
      throw new UsageError(
        `${settingName(this, 'assistant-id')}: required with --api assistants when OPENAI_API_KEY is set`,
      );
    } else {
      console.log(
        `Using ${process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1'} with your OPENAI_API_KEY.`,
      );
    }
    const tools = [weatherTool, searchTool, { type: 'code_interpreter' as const }];
    const options: AssistantOptions =
      api === 'assistants'
        ? { load_options: { assistant_id: assistantId! }, tools, ...connection }
        : {
            api: 'responses',
            model,
            instructions: 'You are a concise, friendly assistant.',
            tools,
            ...connection,
          };
    const llm = new AssistantLLM(
      fleet
        ? {
            ...options,
            transport: {
              redis: fleet,
              session: { room: 'demo', participant: `demo-${process.pid}` },
            },
          }
        : options,
    );
    llm.onToolCallCreated = async (toolCall) => showAndAnswer(toolCall);
    console.log(`Backend: ${api}. The thread is created with the first message.\n`);
    try {
      await turn(llm, 'Tell me about TypeScript');
      await turn(llm, "What's the weather in Paris?");
      await turn(llm, 'Search the knowledge base for TypeScript');
      await turn(llm, 'Please analyse this code: sum(range(10))');
      await turn(llm, 'Tell me a long story', 1_000);
      await turn(llm, 'Thanks!');
      console.log(`\nThread ${llm.threadId} holds the whole conversation.`);
    } finally {
      await llm.aclose();
      await emulator?.close();
    }
  },
};

async function turn(llm: AssistantLLM, message: string, interruptAfterMs?: number): Promise<void> {
  console.log(
    `> You: ${message}${interruptAfterMs ? `   (interrupted after ${interruptAfterMs} ms)` : ''}`,
  );
  process.stdout.write('< Assistant: ');
  const timer = interruptAfterMs
    ? setTimeout(() => void llm.interrupt(), interruptAfterMs)
    : undefined;
  try {
    for await (const chunk of llm.process(message, true, 'Be concise')) process.stdout.write(chunk);
    process.stdout.write('\n\n');
  } catch (error) {
    if (!(error instanceof InterruptionError)) throw error;
    process.stdout.write(' [interrupted]\n\n');
  } finally {
    clearTimeout(timer);
  }
}

function showAndAnswer(toolCall: ToolCall): unknown {
  if (toolCall.type === 'code_interpreter') {
    const logs = toolCall.code_interpreter.outputs
      .map((o) => (o.type === 'logs' ? o.logs : '[image]'))
      .join(' ');
    process.stdout.write(
      `\n  [code_interpreter] ${toolCall.code_interpreter.input} -> ${logs}\n  `,
    );
    return null;
  }
  if (toolCall.type === 'file_search') {
    const hits = toolCall.file_search.results.map((r) => `${r.file_name} (${r.score})`).join(', ');
    process.stdout.write(`\n  [file_search] ${hits || 'no results'}\n  `);
    return null;
  }
  const args = JSON.parse(toolCall.function.arguments) as Record<string, unknown>;
  const output =
    toolCall.function.name === 'get_weather'
      ? {
          location: args.location,
          temperature: 18,
          unit: args.unit ?? 'celsius',
          sky: 'partly cloudy',
        }
      : {
          results: [
            'TypeScript adds static types to JavaScript',
            'TypeScript compiles to plain JavaScript',
          ],
        };
  process.stdout.write(
    `\n  [tool call] ${toolCall.function.name}(${toolCall.function.arguments})\n  [tool output] ${JSON.stringify(output)}\n  `,
  );
  return output;
}
