/**
 * What an expose is asked to do, from any front end, and the one place a request's mode and
 * header are checked against each other.
 */
import type { ExposeMode } from '../../../shared/tunnel-status';
import type { PortMapping } from './port-map';
import type { SshImage } from './ssh-image';
import { ExposeRefusedError } from './expose-refused-error';

export interface ExposeRequest {
  namespace: string;
  service: string;
  /** Empty: every TCP service port to the same port number on this machine. */
  mappings: PortMapping[];
  /** The SSH image for this expose, instead of the manager's. */
  image?: SshImage;
  /** How the Service is taken: `takeover` (the default), `scale-down`, or `personal`. */
  mode?: ExposeMode;
  /** A personal intercept's header (`x-dev`) and value (`alice`); implies `personal`. */
  header?: { name: string; value: string };
}

/** How the request takes the Service: a header makes it personal, else `takeover` by default. */
export function exposeModeOf(request: ExposeRequest): ExposeMode {
  return request.header ? 'personal' : (request.mode ?? 'takeover');
}

/** Refuses a header with another mode, and a personal intercept without a header. */
export function checkModeAndHeader(request: ExposeRequest): void {
  if (request.header && request.mode && request.mode !== 'personal')
    throw new ExposeRefusedError(
      `A header makes an expose personal (only requests carrying it come here); it does not go with mode ${request.mode}. Leave the mode out, or the header.`,
    );
  if (request.mode === 'personal' && !request.header)
    throw new ExposeRefusedError(
      'A personal intercept needs a header and your value, e.g. --header x-dev=alice: only requests carrying it come here.',
    );
}
