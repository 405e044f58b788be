/**
 * Who may subscribe to which of the agent's tracks. @livekit/rtc-node 0.13 has no
 * `setTrackSubscriptionPermissions` on its LocalParticipant (the browser SDK and the native FFI
 * do), so the request goes to the FFI that rtc-node itself loaded. A later rtc-node that has
 * the method is used as it is.
 */
import type { LocalParticipant } from '@livekit/rtc-node';
import type * as Ffi from '@livekit/rtc-ffi-bindings';
import { createRequire } from 'node:module';

/** One participant's allowance: exactly these track sids. */
export interface TrackAllowance {
  participantIdentity: string;
  allowedTrackSids: string[];
}

type WithNativeMethod = LocalParticipant & {
  setTrackSubscriptionPermissions?: (
    allParticipantsAllowed: boolean,
    permissions: Array<{
      participantIdentity: string;
      allowAll: boolean;
      allowedTrackSids: string[];
    }>,
  ) => unknown;
};

let ffi: typeof Ffi | undefined;
/** The FFI bindings rtc-node resolves, never a second copy: handles belong to one native library. */
function rtcFfi(): typeof Ffi {
  if (!ffi) {
    const fromHere = createRequire(import.meta.url);
    const fromRtc = createRequire(fromHere.resolve('@livekit/rtc-node'));
    ffi = fromRtc('@livekit/rtc-ffi-bindings') as typeof Ffi;
  }
  return ffi;
}

/**
 * Sets the local participant's subscription permissions: nobody but the listed participants may
 * subscribe, and each only to its listed tracks. Throws what the native layer throws (for
 * example a participant handle that is no longer valid).
 */
export function restrictTrackSubscriptions(
  local: LocalParticipant,
  allowances: readonly TrackAllowance[],
): void {
  const permissions = allowances.map((a) => ({
    participantIdentity: a.participantIdentity,
    allowAll: false,
    allowedTrackSids: [...a.allowedTrackSids],
  }));
  const native = (local as WithNativeMethod).setTrackSubscriptionPermissions;
  if (typeof native === 'function') {
    native.call(local, false, permissions);
    return;
  }
  const { FfiRequest, SetTrackSubscriptionPermissionsRequest, ParticipantTrackPermission } =
    rtcFfi();
  const request = new FfiRequest({
    message: {
      case: 'setTrackSubscriptionPermissions',
      value: new SetTrackSubscriptionPermissionsRequest({
        localParticipantHandle: local.ffi_handle.handle,
        allParticipantsAllowed: false,
        permissions: permissions.map((p) => new ParticipantTrackPermission(p)),
      }),
    },
  });
  // The response carries nothing; a refused request throws.
  rtcFfi().livekitFfiRequest(request.toBinary());
}
