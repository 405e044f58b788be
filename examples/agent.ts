/**
 * A runnable LiveKit agent: every participant of a room talks to the assistant through their
 * own session actor, with runs executed by `assistant-host worker` processes.
 *
 *   LIVEKIT_URL=wss://... LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... \
 *   REDIS_URL=redis://127.0.0.1:6379 ASSISTANT_API=responses OPENAI_MODEL=gpt-5.6-terra \
 *   npx tsx examples/agent.ts dev
 */
import { cli, ServerOptions, voice } from '@livekit/agents';
import { fileURLToPath } from 'node:url';
import { createAssistantAgent } from '../actors/agent.js';

const api = process.env.ASSISTANT_API === 'assistants' ? 'assistants' : 'responses';

export default createAssistantAgent({
  assistant:
    api === 'assistants'
      ? { load_options: { assistant_id: process.env.ASSISTANT_ID ?? '' } }
      : { api: 'responses', instructions: 'You are a concise, friendly voice assistant.' },
  fleet: { redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  agent: () => new voice.Agent({ instructions: 'Keep answers short enough to speak.' }),
  // Speech in and out through LiveKit Inference; swap in any STT/TTS plugin you use.
  session: () => ({ stt: 'deepgram/nova-3', tts: 'cartesia/sonic-2' }),
  onLeave: process.env.ASSISTANT_ON_LEAVE === 'finish' ? 'finish' : 'cancel',
});

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  cli.runApp(new ServerOptions({ agent: fileURLToPath(import.meta.url) }));
}
