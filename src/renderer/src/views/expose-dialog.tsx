import { useEffect, useState, type SyntheticEvent } from 'react';
import type { AppState } from '../../../shared/app-state';
import {
  routeHeaderName,
  routeHeaderValue,
  type ExposeMode,
  type TunnelStatus,
} from '../../../shared/tunnel-status';

/** The modes the dialog offers, each with what it does and does not move. */
const modeChoices: { mode: ExposeMode; label: string; detail: string }[] = [
  {
    mode: 'takeover',
    label: 'Take over',
    detail:
      'New connections to the service come here; its pods keep running for everyone else’s open connections, pod names and queues.',
  },
  {
    mode: 'personal',
    label: 'Only my requests (personal, by header)',
    detail:
      'Only HTTP requests carrying your header value come here; everyone else’s keep going to its pods, and teammates can do the same with their own values.',
  },
  {
    mode: 'scale-down',
    label: 'Scale down its workloads',
    detail:
      'Its workloads go to zero until you stop: open connections, pod names and queue consumers move here too.',
  },
];

interface PortRow {
  remote: string | number;
  label: string;
  local: string;
}

/** Problems with the local ports, by row; empty when they are all usable. */
export function localPortProblems(rows: readonly PortRow[]): Record<number, string> {
  const problems: Record<number, string> = {};
  rows.forEach((row, index) => {
    const value = Number(row.local);
    if (!/^\d+$/.test(row.local.trim()) || value < 1 || value > 65535)
      problems[index] = 'Enter a port from 1 to 65535.';
    else if (rows.findIndex((other) => Number(other.local) === value) !== index)
      problems[index] = 'This port is already used above.';
  });
  return problems;
}

/** A labelled input with its problem below it, announced to screen readers with the input. */
function CheckedInput(props: {
  id: string;
  label: string;
  value: string;
  problem: string | undefined;
  disabled: boolean;
  onChange: (value: string) => void;
  placeholder?: string;
  inputMode?: 'numeric';
}) {
  return (
    <>
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        value={props.value}
        placeholder={props.placeholder}
        inputMode={props.inputMode}
        aria-invalid={props.problem !== undefined}
        aria-describedby={`${props.id}-problem`}
        disabled={props.disabled}
        onChange={(event) => props.onChange(event.target.value)}
      />
      <span id={`${props.id}-problem`} className="problem">
        {props.problem ?? ''}
      </span>
    </>
  );
}

/** Maps each TCP port of a service to a port on this machine, then exposes it, showing progress. */
export function ExposeDialog(props: {
  tunnel: TunnelStatus;
  state: AppState;
  onClose: () => void;
  onExposed: () => void;
}) {
  const { tunnel } = props;
  const [rows, setRows] = useState<PortRow[]>(() =>
    tunnel.ports
      .filter((p) => p.protocol === 'TCP')
      .map((p) => ({
        remote: p.port,
        label: `Service port ${String(p.port)} (to ${String(p.targetPort)})`,
        local: String(p.port),
      })),
  );
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [mode, setMode] = useState<ExposeMode>('takeover');
  const [headerName, setHeaderName] = useState('x-dev');
  const [headerValue, setHeaderValue] = useState('');
  const problems = localPortProblems(rows);
  const headerProblems =
    mode !== 'personal'
      ? {}
      : {
          ...(routeHeaderName.test(headerName.trim().toLowerCase())
            ? {}
            : { name: 'Enter an HTTP header name: letters, digits and -, e.g. x-dev.' }),
          ...(routeHeaderValue.test(headerValue.trim())
            ? {}
            : { value: 'Enter your value: 1-64 letters, digits or ._~-, e.g. your name.' }),
        };
  const progress = props.state.exposing?.service === tunnel.name ? props.state.exposing.message : null;

  const submit = (event: SyntheticEvent): void => {
    event.preventDefault();
    setTouched(true);
    if (Object.keys(problems).length > 0 || Object.keys(headerProblems).length > 0 || rows.length === 0)
      return;
    setSubmitting(true);
    setError(null);
    void window.localizer
      .expose({
        namespace: tunnel.namespace,
        service: tunnel.name,
        mappings: rows.map((row) => ({ localPort: Number(row.local), remote: row.remote })),
        mode,
        ...(mode === 'personal'
          ? { header: { name: headerName.trim().toLowerCase(), value: headerValue.trim() } }
          : {}),
      })
      .then((result) => {
        setSubmitting(false);
        if (result.ok) props.onExposed();
        else setError(result.message);
      });
  };

  // Escape closes a modal dialog, as Cancel does (not while an expose is under way), wherever
  // the focus is.
  const { onClose } = props;
  useEffect(() => {
    const closeOnEscape = (event: globalThis.KeyboardEvent): void => {
      if (event.key === 'Escape' && !submitting) onClose();
    };
    window.addEventListener('keydown', closeOnEscape);
    return () => window.removeEventListener('keydown', closeOnEscape);
  }, [onClose, submitting]);

  return (
    <div className="backdrop">
      <div role="dialog" aria-modal="true" aria-labelledby="expose-title" className="dialog">
        <h2 id="expose-title">
          Expose {tunnel.namespace}/{tunnel.name} to this machine
        </h2>
        <p>Calls to the service in the cluster will reach these ports on 127.0.0.1 until you stop.</p>
        <form onSubmit={submit} noValidate>
          <fieldset className="field" disabled={submitting}>
            <legend>How</legend>
            {modeChoices.map((choice) => (
              <label key={choice.mode} className="choice">
                <input
                  type="radio"
                  name="mode"
                  value={choice.mode}
                  checked={mode === choice.mode}
                  onChange={() => setMode(choice.mode)}
                  // The dialog is modal: focus starts in it, on the mode chosen at first.
                  autoFocus={choice.mode === 'takeover'}
                />
                <span>
                  {choice.label}
                  <span className="detail">{choice.detail}</span>
                </span>
              </label>
            ))}
          </fieldset>
          {mode === 'personal' && (
            <div className="field">
              <CheckedInput
                id="header-name"
                label="Header"
                value={headerName}
                problem={touched ? headerProblems.name : undefined}
                disabled={submitting}
                onChange={setHeaderName}
              />
              <CheckedInput
                id="header-value"
                label="Your value"
                value={headerValue}
                placeholder="alice"
                problem={touched ? headerProblems.value : undefined}
                disabled={submitting}
                onChange={setHeaderValue}
              />
              <span className="detail">
                Send it with your requests (e.g.{' '}
                <code>
                  curl -H &apos;{headerName || 'x-dev'}: {headerValue || 'alice'}&apos;
                </code>
                ); a service that calls this one must pass it on.
              </span>
            </div>
          )}
          {rows.length === 0 && <p role="alert">This service has no TCP port to expose.</p>}
          {rows.map((row, index) => (
            <div key={String(row.remote)} className="field">
              <CheckedInput
                id={`local-${String(index)}`}
                label={`${row.label}: local port`}
                value={row.local}
                inputMode="numeric"
                problem={touched ? problems[index] : undefined}
                disabled={submitting}
                onChange={(local) => setRows(rows.map((r, i) => (i === index ? { ...r, local } : r)))}
              />
            </div>
          ))}
          {submitting && (
            <p role="status" className="progress">
              {progress ?? 'Starting…'}
            </p>
          )}
          {error && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
          <div className="actions">
            <button type="button" onClick={props.onClose} disabled={submitting}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={submitting || rows.length === 0}>
              Expose
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
