/** RFC 1123 host names, as they may appear in /etc/hosts: lower case, labels of 1–63, 253 in all. */

const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `name` is not a valid host name, or undefined if it is one. */
export function hostnameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 253) return `is ${name.length} characters long; the limit is 253`;
  for (const part of name.split('.')) {
    if (!label.test(part)) {
      return `has the label ${JSON.stringify(part)}, which is not 1–63 lower-case letters, digits or inner hyphens`;
    }
  }
  return undefined;
}

export function isValidHostname(name: string): boolean {
  return hostnameProblem(name) === undefined;
}
