/**
 * The actor host's sweep on its own: an activation that cannot be closed is logged, and the
 * sweep goes on with the other actors instead of rejecting inside its timer.
 */
import { describe, expect, it } from 'vitest';
import { ActorHost } from '../actors/actor-host.js';
import { AssistantLLM, type RunTransport } from '../src/index.js';
import { EmulatorServer } from '../src/testing.js';
import { captureLogger } from './support/assistant.js';

/** A transport of the caller's own (the option accepts any RunTransport) whose close can fail. */
function transport(closeError: Error | null): RunTransport {
  return {
    startRun: () => {
      throw new Error('no run is started in this test');
    },
    close: async () => {
      if (closeError) throw closeError;
    },
  };
}

describe('ActorHost.sweep', () => {
  it('logs an actor it could not passivate and passivates the others', async () => {
    const logger = captureLogger();
    const host = new ActorHost({
      passivateAfterMs: 10,
      logger,
      create: (identity) =>
        new AssistantLLM({
          load_options: { assistant_id: EmulatorServer.defaultAssistantId },
          apiKey: 'sk-test-unused',
          transport: transport(
            identity.participant === 'stuck' ? new Error('the transport would not close') : null,
          ),
        }),
    });
    const stuck = host.actor({ room: 'r', participant: 'stuck' }).actor;
    const fine = host.actor({ room: 'r', participant: 'fine' }).actor;
    stuck.activate();
    fine.activate();

    expect(await host.sweep(Date.now() + 1_000)).toBe(1);
    expect(fine.state).toBe('passive');
    // Its activation was let go before the close failed: the next message builds a new one.
    expect(stuck.state).toBe('passive');
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: 'could not passivate a session actor',
      fields: { sid: stuck.sid, error: 'the transport would not close' },
    });
    await host.close();
  });
});
