import { useState, type SyntheticEvent } from 'react';
import type { ProjectView } from '../../../shared/api';
import type { AppState } from '../../../shared/app-state';

/**
 * Project files (`localizer.yaml`): open one by its path or from the recent ones, read its plan
 * against what runs now, and bring it up or down in this Localizer. Its processes are named, for
 * a terminal (`localizer up`), where their output can be read.
 */
export function ProjectsView(props: { state: AppState }) {
  const [path, setPath] = useState('');
  const [shown, setShown] = useState<ProjectView | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const act = (doing: string, call: () => ReturnType<typeof window.localizer.planProject>): void => {
    setBusy(doing);
    setError(null);
    void call().then((result) => {
      setBusy(null);
      if (result.ok) setShown(result.value);
      else setError(result.message);
    });
  };
  const open = (file: string): void => {
    setPath(file);
    act('Reading the plan…', () => window.localizer.planProject(file));
  };
  const submit = (event: SyntheticEvent): void => {
    event.preventDefault();
    if (path.trim()) open(path.trim());
  };
  return (
    <section aria-label="Projects" className="projects">
      <form onSubmit={submit} className="field">
        <label htmlFor="project-path">Project file</label>
        <input
          id="project-path"
          value={path}
          placeholder="/home/you/src/shop/localizer.yaml"
          aria-describedby="project-path-hint"
          onChange={(event) => setPath(event.target.value)}
        />
        <small id="project-path-hint">
          The full path of a localizer.yaml; the window shows its plan first.
        </small>
        <button type="submit" disabled={busy !== null || !path.trim()}>
          Open
        </button>
      </form>
      {props.state.projects.length > 0 && (
        <ul aria-label="Recent projects" className="recent">
          {props.state.projects.map((project) => (
            <li key={project.path}>
              <button type="button" onClick={() => open(project.path)} title={project.path}>
                {project.name}
              </button>{' '}
              <span className="kind">{project.up ? 'up' : 'down'}</span>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {busy && <p role="status">{busy}</p>}
      {shown && (
        <article aria-label={`Project ${shown.path}`}>
          <h2>
            {shown.path} <span className="kind">{shown.up ? 'up' : 'not up'}</span>
          </h2>
          <pre aria-label="Plan">{shown.plan.join('\n')}</pre>
          {shown.processes.length > 0 && (
            <p>
              Its processes ({shown.processes.join(', ')}) run in a terminal, with their output:{' '}
              <code>localizer up -f {shown.path}</code>
            </p>
          )}
          <button
            type="button"
            disabled={busy !== null || !shown.changes}
            onClick={() => act('Bringing it up…', () => window.localizer.projectUp(shown.path))}
          >
            Bring up
          </button>{' '}
          <button
            type="button"
            disabled={busy !== null || !shown.up}
            onClick={() => act('Bringing it down…', () => window.localizer.projectDown(shown.path))}
          >
            Bring down
          </button>
          {shown.log.length > 0 && <pre aria-label="What happened">{shown.log.join('\n')}</pre>}
        </article>
      )}
    </section>
  );
}
