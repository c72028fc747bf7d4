import { useEffect, useState, type SyntheticEvent } from 'react';
import type { Settings } from '../../../shared/settings';

function list(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

/** The settings form; the main process validates and stores (and says what is wrong). */
export function SettingsView() {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [namespaces, setNamespaces] = useState('');
  const [excluded, setExcluded] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    void window.localizer.getSettings().then((result) => {
      if (!result.ok) return;
      setSettings(result.value);
      setNamespaces(result.value.namespaces.join(', '));
      setExcluded(result.value.excludeNamespaces.join(', '));
    });
  }, []);
  if (!settings) return <p className="empty">Loading settings…</p>;
  const text = (
    key: 'ipRange' | 'clusterDomain' | 'sshImage' | 'sshUser' | 'relayImage',
    label: string,
    hint: string,
  ) => (
    <div className="field">
      <label htmlFor={key}>{label}</label>
      <input
        id={key}
        value={settings[key]}
        aria-describedby={`${key}-hint`}
        onChange={(event) => setSettings({ ...settings, [key]: event.target.value })}
      />
      <small id={`${key}-hint`}>{hint}</small>
    </div>
  );
  const submit = (event: SyntheticEvent): void => {
    event.preventDefault();
    void window.localizer
      .updateSettings({ ...settings, namespaces: list(namespaces), excludeNamespaces: list(excluded) })
      .then((result) =>
        setMessage(
          result.ok
            ? { ok: true, text: 'Saved. Address, domain and namespace changes apply when you next connect.' }
            : { ok: false, text: result.message },
        ),
      );
  };
  return (
    <form aria-label="Settings" className="settings" onSubmit={submit}>
      {text('ipRange', 'Address range', 'Loopback addresses for services, e.g. 127.77.0.0/16.')}
      {text('clusterDomain', 'Cluster domain', 'The suffix of full names, usually cluster.local.')}
      <div className="field">
        <label htmlFor="namespaces">Only these namespaces</label>
        <input id="namespaces" value={namespaces} onChange={(event) => setNamespaces(event.target.value)} />
        <small>Comma-separated; empty means all you may read.</small>
      </div>
      <div className="field">
        <label htmlFor="excluded">Never these namespaces</label>
        <input id="excluded" value={excluded} onChange={(event) => setExcluded(event.target.value)} />
      </div>
      {text('sshImage', 'SSH image for exposes', 'Must contain /usr/sbin/sshd and a non-root account.')}
      {text('sshUser', 'SSH account (name:uid)', 'The non-root account of that image, e.g. abc:911.')}
      <label className="check">
        <input
          type="checkbox"
          checked={settings.relays}
          onChange={(event) => setSettings({ ...settings, relays: event.target.checked })}
        />
        Reach ExternalName, selector-less and UDP services through a relay pod
      </label>
      {text('relayImage', 'Relay image', 'Must run python3; the default needs nothing else and no internet.')}
      <label className="check">
        <input
          type="checkbox"
          checked={settings.notifications}
          onChange={(event) => setSettings({ ...settings, notifications: event.target.checked })}
        />
        Notify me when a tunnel drops or recovers
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={settings.launchAtLogin}
          onChange={(event) => setSettings({ ...settings, launchAtLogin: event.target.checked })}
        />
        Start Localizer when I log in
      </label>
      {message && (
        <p role={message.ok ? 'status' : 'alert'} className={message.ok ? 'saved' : 'error'}>
          {message.text}
        </p>
      )}
      <button type="submit" className="primary">
        Save settings
      </button>
    </form>
  );
}
