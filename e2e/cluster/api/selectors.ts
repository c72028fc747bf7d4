/** Label and field selectors, in the string syntax of the `labelSelector` and `fieldSelector` parameters. */
import { errors } from './status-errors';
import { field, type KubeObject, type LabelSelector } from './objects';

type Requirement =
  | { key: string; operator: 'in' | 'notin'; values: string[] }
  | { key: string; operator: '=' | '!='; values: [string] }
  | { key: string; operator: 'exists' | '!' };

/** A compiled selector; the empty selector matches everything. */
export type Matcher = (labels: Record<string, string> | undefined) => boolean;

const labelKey =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (char === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((part) => part.trim()).filter((part) => part.length > 0);
}

function parseRequirement(text: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(text);
  if (set) {
    const values = (set[3] ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v.length > 0);
    return { key: checkKey(set[1] ?? ''), operator: set[2] as 'in' | 'notin', values };
  }
  const comparison = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(text);
  if (comparison) {
    const operator = comparison[2] === '!=' ? '!=' : '=';
    return { key: checkKey(comparison[1] ?? ''), operator, values: [comparison[3] ?? ''] };
  }
  if (text.startsWith('!')) return { key: checkKey(text.slice(1).trim()), operator: '!' };
  return { key: checkKey(text), operator: 'exists' };
}

function checkKey(key: string): string {
  if (!labelKey.test(key)) {
    throw errors.badRequest(
      `unable to parse requirement: invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
  return key;
}

function matchRequirement(requirement: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, requirement.key);
  const value = labels[requirement.key];
  switch (requirement.operator) {
    case 'exists':
      return has;
    case '!':
      return !has;
    case '=':
      return has && value === requirement.values[0];
    case '!=':
      return !has || value !== requirement.values[0];
    case 'in':
      return has && requirement.values.includes(value ?? '');
    case 'notin':
      return !has || !requirement.values.includes(value ?? '');
  }
}

/** Parses `app=web,tier in (a,b),!legacy`. Throws a 400 `ApiError` on bad syntax. */
export function parseLabelSelector(text: string | null | undefined): Matcher {
  if (!text) return () => true;
  const requirements = splitTopLevel(text).map(parseRequirement);
  return (labels) => requirements.every((r) => matchRequirement(r, labels ?? {}));
}

/** Matches a `LabelSelector` object (workloads, services use plain maps through `matchLabels`). */
export function labelSelectorMatcher(selector: LabelSelector | undefined): Matcher {
  if (!selector) return () => false;
  const requirements: Requirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({
    key,
    operator: '=',
    values: [value],
  }));
  for (const expression of selector.matchExpressions ?? []) {
    const operator = expression.operator.toLowerCase();
    if (operator === 'in' || operator === 'notin') {
      requirements.push({ key: expression.key, operator, values: expression.values ?? [] });
    } else if (operator === 'exists') {
      requirements.push({ key: expression.key, operator: 'exists' });
    } else {
      requirements.push({ key: expression.key, operator: '!' });
    }
  }
  return (labels) => requirements.every((r) => matchRequirement(r, labels ?? {}));
}

/** Services select with a plain map; an empty or missing map selects nothing. */
export function mapSelectorMatches(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

/** Field paths each kind supports, beyond `metadata.name` and `metadata.namespace`. */
const extraFieldsByKind: Record<string, readonly string[]> = {
  Pod: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'status.phase',
    'status.podIP',
  ],
  Event: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'source',
    'type',
  ],
  Secret: ['type'],
  Namespace: ['status.phase'],
};

export type ObjectMatcher = (object: KubeObject) => boolean;

/** Parses `metadata.name=x,status.phase!=Running` for objects of `kind`. */
export function parseFieldSelector(text: string | null | undefined, kind: string): ObjectMatcher {
  if (!text) return () => true;
  const supported = ['metadata.name', 'metadata.namespace', ...(extraFieldsByKind[kind] ?? [])];
  const terms = text.split(',').map((term) => {
    const match = /^([^=!]+)(==|=|!=)(.*)$/.exec(term.trim());
    if (!match) throw errors.badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const path = match[1] ?? '';
    if (!supported.includes(path)) {
      throw errors.badRequest(`field label not supported: ${path}`);
    }
    return { path: path.split('.'), negate: match[2] === '!=', value: match[3] ?? '' };
  });
  return (object) =>
    terms.every((term) => {
      const raw = field(object, ...term.path);
      const actual = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : '';
      return term.negate ? actual !== term.value : actual === term.value;
    });
}
