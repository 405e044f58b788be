import { readFile } from 'node:fs/promises';
import { demoScripts, EmulatorServer, parseScriptRules, type Protocol } from '../../src/testing.js';
import { intSetting, settingName, UsageError, type Command } from '../kit.js';
import { commandLogger, LOG_OPTIONS } from '../log.js';

export const emulatorCommand: Command = {
  name: 'emulator',
  summary:
    'Run the local OpenAI-compatible server (Assistants v2, Responses + Conversations) with a scripted, deterministic model.',
  options: {
    port: {
      type: 'string',
      description: 'Port to listen on (0 picks a free one)',
      env: 'EMULATOR_PORT',
      default: '8787',
    },
    host: {
      type: 'string',
      description: 'Address to listen on',
      env: 'EMULATOR_HOST',
      default: '127.0.0.1',
    },
    scripts: {
      type: 'string',
      description: 'JSON file of script rules (see README, "The local server")',
      env: 'EMULATOR_SCRIPTS',
    },
    'token-delay-ms': {
      type: 'string',
      description: 'Delay before each streamed word',
      env: 'EMULATOR_TOKEN_DELAY_MS',
      default: '0',
    },
    protocols: {
      type: 'string',
      description: "Protocols to serve: 'assistants', 'responses' or both, comma-separated",
      env: 'EMULATOR_PROTOCOLS',
      default: 'assistants,responses',
    },
    ...LOG_OPTIONS,
  },
  async run(values) {
    const port = intSetting(this, values, 'port', 0, 65535);
    const { pino: log } = commandLogger(this, values);
    const tokenDelayMs = intSetting(this, values, 'token-delay-ms', 0, 60_000);
    const protocols = String(values.protocols)
      .split(',')
      .map((p) => p.trim());
    for (const protocol of protocols) {
      if (protocol !== 'assistants' && protocol !== 'responses') {
        throw new UsageError(
          `${settingName(this, 'protocols')}: expected 'assistants' and/or 'responses', got ${JSON.stringify(protocol)}`,
        );
      }
    }
    let scripts = demoScripts();
    if (typeof values.scripts === 'string') {
      let text: string;
      try {
        text = await readFile(values.scripts, 'utf8');
      } catch (error) {
        throw new UsageError(
          `${settingName(this, 'scripts')}: cannot read ${values.scripts}: ${(error as Error).message}`,
        );
      }
      try {
        scripts = parseScriptRules(JSON.parse(text), values.scripts);
      } catch (error) {
        throw new UsageError(`${settingName(this, 'scripts')}: ${(error as Error).message}`);
      }
    }
    const emulator = new EmulatorServer({
      scripts,
      tokenDelayMs,
      protocols: protocols as Protocol[],
      recordEvents: false,
      recordRequests: false,
    });
    const baseURL = await emulator.listen(port, String(values.host));
    // Listening for signals before saying "listening", so a SIGTERM right after it is graceful.
    const signalled = waitForSignal();
    log.info(
      {
        url: baseURL.replace('127.0.0.1', String(values.host)),
        assistantId: EmulatorServer.defaultAssistantId,
        protocols,
      },
      'OpenAI-compatible emulator listening; any bearer key is accepted',
    );
    await signalled;
    await emulator.close();
    log.info('emulator stopped');
  },
};

/**
 * Resolves on the first SIGINT or SIGTERM. Later signals are absorbed while the command shuts
 * down gracefully, so an impatient second SIGTERM does not kill it halfway.
 */
export function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => resolve();
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
