/**
 * A room process for the tests (started by startRoomProcess in resume.ts): one fleet-mode
 * AssistantLLM on the Responses API that sends one message and prints each chunk as a JSON line,
 * so that a test can kill the room mid-stream and see what its run does without it.
 */
import { fleetLLM, type FleetNames } from './fleet.js';

function setting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name}: expected it in the environment`);
  return value;
}

const names = JSON.parse(setting('ROOM_FLEET')) as FleetNames;
const session = JSON.parse(setting('ROOM_SESSION')) as { room: string; participant: string };
const llm = fleetLLM('responses', names, session, { background: true });
for await (const chunk of llm.process(setting('ROOM_MESSAGE'))) {
  process.stdout.write(`${JSON.stringify({ chunk })}\n`);
}
process.stdout.write(`${JSON.stringify({ done: true })}\n`);
await llm.aclose();
process.exit(0);
