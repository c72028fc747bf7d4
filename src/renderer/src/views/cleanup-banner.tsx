import { useState } from 'react';
import type { CleanupNotice } from '../../../shared/app-state';

/**
 * What Localizer put back after an earlier run of its own was killed, so a developer who sees
 * their pods come back knows why. Dismissed per notice; a later cleanup shows again.
 */
export function CleanupBanner(props: { cleanup: CleanupNotice | null }) {
  const [dismissed, setDismissed] = useState<number | null>(null);
  const { cleanup } = props;
  if (!cleanup || cleanup.id === dismissed) return null;
  const failed = cleanup.failed.length > 0;
  return (
    <section
      className={failed ? 'banner banner-problem' : 'banner'}
      role="status"
      aria-label="Cleanup after the last run"
    >
      <p>
        {failed
          ? `Localizer could not undo everything its last run left in ${cleanup.context}. Run \`localizer cleanup\` to try again.`
          : `Localizer's last run in ${cleanup.context} ended without cleaning up, so it did that now:`}
      </p>
      <ul>
        {cleanup.done.map((line) => (
          <li key={`done-${line}`}>{line}</li>
        ))}
        {cleanup.failed.map((line) => (
          <li key={`failed-${line}`}>could not undo: {line}</li>
        ))}
        {cleanup.skipped.map((line) => (
          <li key={`skipped-${line}`}>left alone: {line}</li>
        ))}
      </ul>
      <button type="button" onClick={() => setDismissed(cleanup.id)}>
        Dismiss
      </button>
    </section>
  );
}
