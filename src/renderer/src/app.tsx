import { useEffect, useState } from 'react';
import type { AppInfo } from '../../shared/api';

/** The window's shell; the cluster and tunnel views grow inside it. */
export function App() {
  const [info, setInfo] = useState<AppInfo | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    void window.localizer.getAppInfo().then((result) => {
      if (result.ok) setInfo(result.value);
      else setError(result.message);
    });
  }, []);
  return (
    <main aria-label="Localizer">
      <h1>Localizer</h1>
      {error && <p role="alert">{error}</p>}
      {info && (
        <p>
          Version {info.version} on {info.platform}
          {info.electron ? `, Electron ${info.electron}` : ''}
        </p>
      )}
    </main>
  );
}
