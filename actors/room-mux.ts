/**
 * One room connection shared by one AgentSession per participant.
 *
 * rtc-node allows one handler per data-stream topic on a Room, and every AgentSession registers
 * the same ones (`lk.chat`, `lk.agent.session`): on a shared Room the second session fails and a
 * closing session silences the rest. The mux gives each participant's session a view of the real
 * Room in which:
 * - stream handlers are that session's own: the mux holds the one real handler per topic and
 *   hands each incoming stream to the session of the participant who sent it;
 * - what the session sends without naming a destination goes to its participant only, and its
 *   audio track may be subscribed by its participant only (audience 'participant', the default;
 *   audience 'room' lets everyone hear every answer);
 * - room listeners, tracks and attributes it adds are removed when the participant is released,
 *   so sessions that come and go leave nothing behind on the shared Room.
 */
import {
  RoomEvent,
  type ByteStreamHandler,
  type LocalParticipant,
  type LocalTrack,
  type LocalTrackPublication,
  type Room,
  type TextStreamHandler,
  type TrackPublication,
  type TrackPublishOptions,
} from '@livekit/rtc-node';
import type { Logger } from '../src/logger.js';
import { restrictTrackSubscriptions, type TrackAllowance } from './track-permissions.js';

/** Who hears a participant's assistant: that participant only, or everyone in the room. */
export type Audience = 'participant' | 'room';

/** How a RoomMux shares its room. */
export interface RoomMuxOptions {
  /** Default 'participant'. */
  audience?: Audience;
  /** Where failures to set track permissions or clean up are logged. */
  logger?: Logger;
  /** Applies track permissions; rtc's native request by default (a seam for tests of the FFI). */
  restrictTracks?: (local: LocalParticipant, allowances: readonly TrackAllowance[]) => void;
}

/** The agent-state attribute LiveKit's front ends read on the agent participant. */
export const AGENT_STATE_ATTRIBUTE = 'lk.agent.state';
/** Per participant, their own assistant's state: `lk.agent.state.<identity>`. */
export const agentStateAttribute = (identity: string): string =>
  `${AGENT_STATE_ATTRIBUTE}.${identity}`;
/** The room-wide state is the busiest one: a listener should not see 'listening' while one speaks. */
const STATE_RANK = ['idle', 'initializing', 'listening', 'thinking', 'speaking'];

type StreamKind = 'text' | 'byte';
type AnyStreamHandler = TextStreamHandler | ByteStreamHandler;
type Listener = (...args: never[]) => void;

const LOCAL_TRACK_EVENTS: ReadonlySet<string | symbol> = new Set([
  RoomEvent.LocalTrackPublished,
  RoomEvent.LocalTrackUnpublished,
]);

/** What one participant's view has added to the shared room. */
class ViewState {
  readonly handlers = { text: new Set<string>(), byte: new Set<string>() };
  /** Listeners added through the view: the caller's function → what the real Room holds. */
  readonly listeners = new Map<Listener, { event: string | symbol; real: Listener }[]>();
  readonly tracks = new Set<LocalTrack>();
  localView: { real: LocalParticipant; view: LocalParticipant } | undefined;
  constructor(readonly identity: string) {}
}

/**
 * Shares one rtc-node Room among one AgentSession per participant: `view(identity)` is the room
 * that participant's session is started on, `release(identity)` removes what it added.
 */
export class RoomMux {
  readonly #room: Room;
  readonly #audience: Audience;
  readonly #logger: Logger | undefined;
  readonly #restrict: (local: LocalParticipant, allowances: readonly TrackAllowance[]) => void;
  /** Per kind, topic → sender identity → that participant's handler. */
  readonly #routes = {
    text: new Map<string, Map<string, TextStreamHandler>>(),
    byte: new Map<string, Map<string, ByteStreamHandler>>(),
  };
  readonly #views = new Map<string, ViewState>();
  readonly #states = new Map<string, string>();
  #appliedPermissions: string | undefined;
  #closed = false;
  readonly #refresh = (): void => this.#applyPermissions();
  /** A new connection starts from the server's default (everyone allowed): apply again. */
  readonly #reconnected = (): void => {
    this.#appliedPermissions = undefined;
    this.#applyPermissions();
  };

  constructor(room: Room, options: RoomMuxOptions = {}) {
    this.#room = room;
    this.#audience = options.audience ?? 'participant';
    this.#logger = options.logger;
    this.#restrict = options.restrictTracks ?? restrictTrackSubscriptions;
    if (this.#audience === 'participant') {
      for (const event of this.#permissionEvents) room.on(event, this.#refresh);
      room.on(RoomEvent.ConnectionStateChanged, this.#reconnected);
      this.#applyPermissions();
    }
  }

  get audience(): Audience {
    return this.#audience;
  }

  /** Identities with a live view. */
  get identities(): string[] {
    return [...this.#views.keys()];
  }

  /**
   * The room as `identity`'s AgentSession should see it. One live view per participant: a
   * second one before `release` would make two sessions answer the same person.
   */
  view(identity: string): Room {
    if (this.#closed) throw new Error('The room multiplexer is closed.');
    if (this.#views.has(identity))
      throw new Error(`Participant "${identity}" already has a session in this room.`);
    const state = new ViewState(identity);
    this.#views.set(identity, state);
    const proxy: Room = new Proxy(this.#room, {
      get: (target, prop) => {
        switch (prop) {
          case 'registerTextStreamHandler':
            return (topic: string, handler: TextStreamHandler) =>
              this.#register('text', state, topic, handler);
          case 'registerByteStreamHandler':
            return (topic: string, handler: ByteStreamHandler) =>
              this.#register('byte', state, topic, handler);
          case 'unregisterTextStreamHandler':
            return (topic: string) => this.#unregister('text', state, topic);
          case 'unregisterByteStreamHandler':
            return (topic: string) => this.#unregister('byte', state, topic);
          case 'on':
          case 'addListener':
            return (event: string | symbol, listener: Listener) => {
              this.#listen(state, event, listener, false);
              return proxy;
            };
          case 'once':
            return (event: string | symbol, listener: Listener) => {
              this.#listen(state, event, listener, true);
              return proxy;
            };
          case 'off':
          case 'removeListener':
            return (event: string | symbol, listener: Listener) => {
              this.#unlisten(state, event, listener);
              return proxy;
            };
          case 'localParticipant':
            return this.#localView(state);
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return proxy;
  }

  /**
   * Removes all that `identity`'s view added: stream handlers, room listeners, published
   * tracks, its state attribute. Call it after the participant's session has closed.
   */
  async release(identity: string): Promise<void> {
    const state = this.#views.get(identity);
    if (!state) return;
    this.#views.delete(identity);
    for (const kind of ['text', 'byte'] as const)
      for (const topic of [...state.handlers[kind]]) this.#unregister(kind, state, topic);
    for (const [listener, entries] of state.listeners)
      for (const { event } of [...entries]) this.#unlisten(state, event, listener);
    const local = this.#room.localParticipant;
    const published = local ? this.#publicationsOf(local, state.tracks) : [];
    state.tracks.clear();
    await Promise.all(
      published.map(async (publication) => {
        try {
          await local!.unpublishTrack(publication.sid!);
        } catch (error) {
          // The room may be gone already; the track goes with it.
          this.#logger?.warn('could not unpublish a departed participant’s track', {
            participant: identity,
            error: (error as Error).message,
          });
        }
      }),
    );
    if (this.#states.delete(identity) && local && this.#room.isConnected) {
      // An empty value deletes the attribute.
      await this.#setAttributes(local, { [agentStateAttribute(identity)]: '' }, identity);
    }
    this.#applyPermissions();
  }

  /** Releases every view and the mux's own room listeners. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.identities.map((identity) => this.release(identity)));
    for (const event of this.#permissionEvents) this.#room.off(event, this.#refresh);
    this.#room.off(RoomEvent.ConnectionStateChanged, this.#reconnected);
  }

  get #permissionEvents(): RoomEvent[] {
    return [
      RoomEvent.ParticipantConnected,
      RoomEvent.ParticipantDisconnected,
      RoomEvent.LocalTrackPublished,
      RoomEvent.LocalTrackUnpublished,
    ];
  }

  #register(kind: StreamKind, state: ViewState, topic: string, handler: AnyStreamHandler): void {
    if (state.handlers[kind].has(topic))
      throw new Error(`A ${kind} stream handler for topic "${topic}" has already been set.`);
    const routes = this.#routes[kind] as Map<string, Map<string, AnyStreamHandler>>;
    let byIdentity = routes.get(topic);
    if (!byIdentity) {
      byIdentity = new Map();
      try {
        if (kind === 'text')
          this.#room.registerTextStreamHandler(topic, this.#dispatch('text', topic));
        else this.#room.registerByteStreamHandler(topic, this.#dispatch('byte', topic));
      } catch (error) {
        throw new Error(
          `Topic "${topic}" already has a ${kind} stream handler registered on the room outside the ` +
            `per-participant sessions; unregister it or use another topic (${(error as Error).message})`,
          { cause: error },
        );
      }
      routes.set(topic, byIdentity);
    }
    byIdentity.set(state.identity, handler);
    state.handlers[kind].add(topic);
  }

  #unregister(kind: StreamKind, state: ViewState, topic: string): void {
    if (!state.handlers[kind].delete(topic)) return;
    const routes = this.#routes[kind];
    const byIdentity = routes.get(topic);
    byIdentity?.delete(state.identity);
    if (byIdentity && byIdentity.size === 0) {
      routes.delete(topic);
      if (kind === 'text') this.#room.unregisterTextStreamHandler(topic);
      else this.#room.unregisterByteStreamHandler(topic);
    }
  }

  /** The one real handler of a topic: the sender's own session gets the stream. */
  #dispatch<K extends StreamKind>(
    kind: K,
    topic: string,
  ): K extends 'text' ? TextStreamHandler : ByteStreamHandler {
    const handler = (reader: Parameters<AnyStreamHandler>[0], sender: { identity: string }) => {
      const target = this.#routes[kind].get(topic)?.get(sender.identity);
      if (target) {
        (target as (r: typeof reader, s: typeof sender) => void)(reader, sender);
        return;
      }
      this.#logger?.debug('no session for this sender; stream dropped', {
        topic,
        participant: sender.identity,
      });
      // Unread, the stream would hold its FFI listener until the room closes.
      reader.close().catch((error: unknown) =>
        this.#logger?.debug('closing a dropped stream failed', {
          topic,
          error: (error as Error).message,
        }),
      );
    };
    return handler as K extends 'text' ? TextStreamHandler : ByteStreamHandler;
  }

  #listen(state: ViewState, event: string | symbol, listener: Listener, once: boolean): void {
    let real: Listener = listener;
    if (LOCAL_TRACK_EVENTS.has(event)) {
      // A session tracks its own audio track only (its transcriptions name that track).
      real = ((publication: TrackPublication, ...rest: unknown[]) => {
        if (publication.track && state.tracks.has(publication.track as LocalTrack))
          (listener as (...args: unknown[]) => void)(publication, ...rest);
      }) as Listener;
    }
    if (once) {
      const inner = real;
      real = ((...args: never[]) => {
        this.#forget(state, event, listener, real);
        inner(...args);
      }) as Listener;
    }
    const entries = state.listeners.get(listener) ?? [];
    entries.push({ event, real });
    state.listeners.set(listener, entries);
    if (once) this.#room.once(event as RoomEvent, real as never);
    else this.#room.on(event as RoomEvent, real as never);
  }

  #unlisten(state: ViewState, event: string | symbol, listener: Listener): void {
    const entry = state.listeners.get(listener)?.find((e) => e.event === event);
    if (!entry) return;
    this.#forget(state, event, listener, entry.real);
    this.#room.off(event as RoomEvent, entry.real as never);
  }

  #forget(state: ViewState, event: string | symbol, listener: Listener, real: Listener): void {
    const entries = state.listeners.get(listener);
    if (!entries) return;
    const index = entries.findIndex((e) => e.event === event && e.real === real);
    if (index >= 0) entries.splice(index, 1);
    if (entries.length === 0) state.listeners.delete(listener);
  }

  #localView(state: ViewState): LocalParticipant | undefined {
    const real = this.#room.localParticipant;
    if (!real) return undefined;
    if (state.localView?.real !== real) {
      state.localView = { real, view: this.#makeLocalView(state, real) };
    }
    return state.localView.view;
  }

  #makeLocalView(state: ViewState, real: LocalParticipant): LocalParticipant {
    const identity = state.identity;
    const privately = this.#audience === 'participant';
    /** Unaddressed sends go to the participant alone, in audience 'participant'. */
    const address = <T extends { destinationIdentities?: string[] }>(options: T | undefined) =>
      privately && !options?.destinationIdentities?.length
        ? ({ ...options, destinationIdentities: [identity] } as T)
        : options;
    const overrides: Partial<Record<keyof LocalParticipant, unknown>> = {
      streamText: (options?: Parameters<LocalParticipant['streamText']>[0]) =>
        real.streamText(address(options)),
      sendText: (text: string, options?: Parameters<LocalParticipant['sendText']>[1]) =>
        real.sendText(text, address(options)),
      streamBytes: (options?: Parameters<LocalParticipant['streamBytes']>[0]) =>
        real.streamBytes(address(options)),
      sendFile: (
        path: Parameters<LocalParticipant['sendFile']>[0],
        options?: Parameters<LocalParticipant['sendFile']>[1],
      ) => real.sendFile(path, address(options)),
      publishData: (data: Uint8Array, options: Parameters<LocalParticipant['publishData']>[1]) =>
        real.publishData(
          data,
          privately && !options.destination_identities?.length
            ? { ...options, destination_identities: [identity] }
            : options,
        ),
      sendChatMessage: (text: string, destinations?: string[], sender?: string) =>
        real.sendChatMessage(
          text,
          privately && !destinations?.length ? [identity] : destinations,
          sender,
        ),
      publishTranscription: async (
        transcription: Parameters<LocalParticipant['publishTranscription']>[0],
      ) => {
        // Legacy transcription packets cannot be addressed; the text-stream transcription
        // (lk.transcription), which is addressed, carries the same text to the participant.
        if (privately) return;
        await real.publishTranscription(transcription);
      },
      publishTrack: async (track: LocalTrack, options: TrackPublishOptions) => {
        state.tracks.add(track);
        // The permission set must deny others before the track exists, not after.
        this.#applyPermissions();
        try {
          return await real.publishTrack(track, options);
        } catch (error) {
          state.tracks.delete(track);
          throw error;
        } finally {
          this.#applyPermissions();
        }
      },
      unpublishTrack: async (sid: string, stopOnUnpublish?: boolean) => {
        const publication = real.trackPublications.get(sid);
        await real.unpublishTrack(sid, stopOnUnpublish);
        if (publication?.track) state.tracks.delete(publication.track as LocalTrack);
        this.#applyPermissions();
      },
      setAttributes: (attributes: Record<string, string>) =>
        this.#setAttributes(real, attributes, identity),
    };
    return new Proxy(real, {
      get: (target, prop) => {
        if (prop === 'trackPublications') {
          // The session sees only its own tracks, so it names its own in transcriptions.
          return new Map(
            this.#publicationsOf(target, state.tracks).map((p) => [p.sid!, p] as const),
          );
        }
        if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof LocalParticipant];
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  #publicationsOf(
    local: LocalParticipant,
    tracks: ReadonlySet<LocalTrack>,
  ): LocalTrackPublication[] {
    return [...local.trackPublications.values()].filter(
      (p) => p.sid && p.track && tracks.has(p.track as LocalTrack),
    );
  }

  /** `lk.agent.state` becomes the session's own key, and the room-wide key the busiest state. */
  async #setAttributes(
    local: LocalParticipant,
    attributes: Record<string, string>,
    identity: string,
  ): Promise<void> {
    const out = { ...attributes };
    const state = attributes[AGENT_STATE_ATTRIBUTE];
    if (state !== undefined) {
      this.#states.set(identity, state);
      out[agentStateAttribute(identity)] = state;
    }
    if (state !== undefined || attributes[agentStateAttribute(identity)] === '') {
      const busiest = [...this.#states.values()].reduce(
        (a, b) => (STATE_RANK.indexOf(b) > STATE_RANK.indexOf(a) ? b : a),
        'idle',
      );
      out[AGENT_STATE_ATTRIBUTE] = busiest;
    }
    await local.setAttributes(out);
  }

  /** In audience 'participant', each remote participant may subscribe to its own tracks only. */
  #applyPermissions(): void {
    if (this.#audience !== 'participant') return;
    const local = this.#room.localParticipant;
    if (!local) return;
    const allowances = this.#allowances(local);
    const key = JSON.stringify(allowances);
    if (key === this.#appliedPermissions) return;
    try {
      this.#restrict(local, allowances);
      this.#appliedPermissions = key;
    } catch (error) {
      this.#logger?.error('could not restrict who may subscribe to the agent’s tracks', {
        error: (error as Error).message,
      });
    }
  }

  /** Own tracks to their owner; tracks no session published (shared ones) to everyone. */
  #allowances(local: LocalParticipant): TrackAllowance[] {
    const owner = new Map<LocalTrack, string>();
    for (const [identity, state] of this.#views)
      for (const track of state.tracks) owner.set(track, identity);
    const shared: string[] = [];
    const own = new Map<string, string[]>();
    for (const publication of local.trackPublications.values()) {
      if (!publication.sid) continue;
      const identity = publication.track && owner.get(publication.track as LocalTrack);
      if (identity === undefined) shared.push(publication.sid);
      else own.set(identity, [...(own.get(identity) ?? []), publication.sid]);
    }
    return [...this.#room.remoteParticipants.keys()].sort().map((identity) => ({
      participantIdentity: identity,
      allowedTrackSids: [...(own.get(identity) ?? []), ...shared].sort(),
    }));
  }
}
