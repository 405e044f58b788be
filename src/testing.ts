/** `@livekit/agents-plugin-assistant/testing`: the local OpenAI-compatible server. */
export * from './emulator/index.js';
