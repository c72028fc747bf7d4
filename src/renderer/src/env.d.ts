import type { LocalizerApi } from '../../shared/api';

declare global {
  interface Window {
    /** Installed by the preload in the app, or by the browser harness in a plain browser. */
    localizer: LocalizerApi;
  }
}
