/** Which links may leave the app for the user's browser: https on an allowlisted host, nothing else. */

const allowedHosts = new Set(['github.com', 'kubernetes.io', 'www.kubernetes.io']);

/** Parses `raw` with `new URL` (never a prefix check) and allows only https links to known hosts. */
export function isAllowedExternalUrl(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  return (
    url.protocol === 'https:' && url.username === '' && url.password === '' && allowedHosts.has(url.hostname)
  );
}
