import { describe, expect, it } from 'vitest';
import { isAllowedExternalUrl } from './external-links';

describe('isAllowedExternalUrl', () => {
  it('opens https links to the project and Kubernetes docs', () => {
    expect(isAllowedExternalUrl('https://github.com/localizer/localizer/issues')).toBe(true);
    expect(isAllowedExternalUrl('https://kubernetes.io/docs/concepts/services-networking/service/')).toBe(
      true,
    );
  });

  it('refuses look-alike hosts, other schemes, credentials and garbage', () => {
    for (const url of [
      'https://github.com.evil.example/',
      'https://evil.example/?https://github.com',
      'http://github.com/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'https://user:pass@github.com/',
      'not a url',
    ]) {
      expect(isAllowedExternalUrl(url), url).toBe(false);
    }
  });
});
