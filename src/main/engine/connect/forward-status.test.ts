import { describe, expect, it } from 'vitest';
import { forwardStatus, type ForwardFacts } from './forward-status';

/** A forward with one ready pod, listening, whose last connection went through. */
const healthy: ForwardFacts = {
  endpoints: 1,
  ready: 1,
  relayOnly: false,
  bindErrors: [],
  failing: false,
  relayFailing: false,
  lastError: null,
  relayNote: '',
  slowReaderNote: '',
};
const relayNote = 'through the egress relay (pod localizer-relay-x): 5432/tcp to legacy-db.corp.example:5432';

describe('a forward’s status, from its facts', () => {
  it.each([
    { case: 'healthy', facts: {}, status: 'running', reason: '' },
    {
      case: 'skipped by the plan, whatever else is true',
      facts: { skipReason: 'ExternalName services need the egress relay', failing: true },
      status: 'skipped',
      reason: 'ExternalName services need the egress relay',
    },
    {
      case: 'no pod yet',
      facts: { endpoints: 0, ready: 0 },
      status: 'waiting',
      reason: 'no pod matches the selector yet',
    },
    {
      case: 'pods, none ready',
      facts: { endpoints: 3, ready: 0 },
      status: 'waiting',
      reason: 'no ready pod (3 not ready)',
    },
    {
      case: 'a port taken',
      facts: { bindErrors: ['127.77.0.3:80 is taken by another program (nginx, pid 812)'] },
      status: 'failed',
      reason: '127.77.0.3:80 is taken by another program (nginx, pid 812)',
    },
    {
      case: 'the last connection failed',
      facts: { failing: true, lastError: 'the pod refused port 8080' },
      status: 'reconnecting',
      reason: 'the last connection failed: the pod refused port 8080',
    },
    {
      case: 'relayed only, the relay failing',
      facts: {
        endpoints: 0,
        ready: 0,
        relayOnly: true,
        relayFailing: true,
        lastError: 'connect ETIMEDOUT',
        relayNote,
      },
      status: 'failed',
      reason: `${relayNote}; the last connection failed: connect ETIMEDOUT; the next connection tries again`,
    },
    {
      case: 'running, with everything a user should know',
      facts: {
        relayNote,
        slowReaderNote: 'a client of pod api-1 stopped reading, so 2 other connections to it wait for it',
        planNote: 'port 9090/SCTP is not carried',
      },
      status: 'running',
      reason: `${relayNote}; a client of pod api-1 stopped reading, so 2 other connections to it wait for it; port 9090/SCTP is not carried`,
    },
  ])('$case', ({ facts, status, reason }) => {
    expect(forwardStatus({ ...healthy, ...facts })).toEqual({ status, reason });
  });
});
