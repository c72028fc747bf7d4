/**
 * The user's settings in electron-store: the file is checked against a JSON schema on every
 * write, each field against the shared zod schema on read, and settings stored by an older
 * version are migrated (`migrateSettings`) the first time a newer app starts.
 */
import Store from 'electron-store';
import { defaultSettings, migrateSettings, settingsVersion, type Settings } from '../shared/settings';
import type { SettingsStore } from './engine/localizer-backend';

interface StoredSettings {
  version: number;
  settings: Record<string, unknown>;
}

export function createSettingsStore(overrides: Partial<Settings> = {}): SettingsStore {
  const store = new Store<StoredSettings>({
    name: 'settings',
    defaults: { version: settingsVersion, settings: { ...defaultSettings } },
    schema: {
      version: { type: 'integer', minimum: 1 },
      settings: { type: 'object' },
    },
  });
  let current = migrateSettings(store.get('settings'), store.get('version'));
  store.set({ version: settingsVersion, settings: current });
  // Overrides (tests, LOCALIZER_IP_RANGE) apply to this run only and are never written.
  return {
    get: () => ({ ...current, ...overrides }),
    set: (settings) => {
      current = settings;
      store.set({ version: settingsVersion, settings });
    },
  };
}
