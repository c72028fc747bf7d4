/** Settings written by an older Localizer still load, with what is invalid replaced by defaults. */
import { describe, expect, it } from 'vitest';
import { defaultSettings, migrateSettings } from './settings';

describe('settings migration', () => {
  it('turns version 1’s single namespace into the list, and drops an sshUser without a uid', () => {
    expect(migrateSettings({ namespace: 'web', sshUser: 'abc', ipRange: '127.88.0.0/16' }, 1)).toEqual({
      ...defaultSettings,
      namespaces: ['web'],
      ipRange: '127.88.0.0/16',
    });
  });

  it('keeps valid fields and replaces broken ones with defaults', () => {
    expect(migrateSettings({ ipRange: '10.0.0.0/8', notifications: false, clusterDomain: 42 }, 2)).toEqual({
      ...defaultSettings,
      notifications: false,
    });
    expect(migrateSettings('garbage', 2)).toEqual(defaultSettings);
  });

  it('turns relays on, with the default image, for settings saved before relays existed', () => {
    const saved = { ...defaultSettings, notifications: false } as Record<string, unknown>;
    delete saved.relays;
    delete saved.relayImage;
    expect(migrateSettings(saved, 2)).toMatchObject({
      notifications: false,
      relays: true,
      relayImage: 'python:3.13-alpine',
    });
  });
});
