import { useState } from 'react';
import type { ExposeEndedNotice } from '../../../shared/app-state';

/**
 * An expose that ended by itself (someone else changed the Service it held) leaves the list;
 * this says which one and why, until dismissed. A later one shows again.
 */
export function ExposeEndedBanner(props: { ended: ExposeEndedNotice | null }) {
  const [dismissed, setDismissed] = useState<number | null>(null);
  const { ended } = props;
  if (!ended || ended.id === dismissed) return null;
  return (
    <section className="banner banner-problem" role="status" aria-label="Expose ended">
      <p>
        {ended.namespace}/{ended.service} is no longer exposed. {ended.reason}
      </p>
      <button type="button" onClick={() => setDismissed(ended.id)}>
        Dismiss
      </button>
    </section>
  );
}
