/**
 * `localizer.yaml`: what a project needs from the cluster, checked into its repository. One
 * context, the namespaces to connect, the services to expose and the local processes to run with
 * a workload's environment. `localizer up` brings it up, `localizer down` undoes what up did.
 * The JSON Schema in `schema/localizer.schema.json` is generated from this one (a test keeps
 * them equal), so editors complete and check the file with the yaml-language-server comment.
 */
import { z } from 'zod';
import { exposeModes } from './tunnel-status';

const kubeName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a Kubernetes name: lower-case letters, digits and -')
  .max(63);

const isPort = (text: string): boolean => Number(text) >= 1 && Number(text) <= 65535;

const portMapping = z
  .string()
  .regex(
    /^\d{1,5}:([a-z0-9]([-a-z0-9]*[a-z0-9])?|\d{1,5})$/,
    'LOCAL:REMOTE, the local port and the service port’s name or number, e.g. 3000:http',
  )
  .refine((mapping) => {
    const [local = '', remote = ''] = mapping.split(':');
    return isPort(local) && (!/^\d+$/.test(remote) || isPort(remote));
  }, 'a port is 1-65535');

export const projectFileSchema = z
  .strictObject({
    $schema: z.string().optional().describe('the JSON Schema of this file, for editors'),
    context: z
      .string()
      .min(1)
      .max(253)
      .optional()
      .describe('the kubeconfig context to use; default: the current context'),
    connect: z
      .strictObject({
        namespaces: z.array(kubeName).max(256).optional().describe('only these namespaces; default: all'),
        excludeNamespaces: z.array(kubeName).max(256).optional().describe('every namespace but these'),
        names: z
          .boolean()
          .optional()
          .describe('cluster names in /etc/hosts (needs the privileged helper); default true'),
      })
      .optional()
      .describe(
        'make the Services reachable from this machine by their in-cluster names; absent: no connect',
      ),
    exposes: z
      .array(
        z
          .strictObject({
            service: z
              .string()
              .regex(
                /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
                'NAMESPACE/SERVICE, e.g. web/api',
              )
              .describe('NAMESPACE/SERVICE whose cluster traffic comes to this machine'),
            map: z
              .array(portMapping)
              .max(64)
              .optional()
              .describe('LOCAL:REMOTE port mappings; default: each service port to the same local port'),
            mode: z
              .enum(exposeModes)
              .optional()
              .describe(
                'takeover (default: the Service points at a tunnel pod, its pods keep running), scale-down, or personal (with header)',
              ),
            header: z
              .string()
              .regex(
                /^[A-Za-z0-9][A-Za-z0-9-]{0,62}=[A-Za-z0-9._~-]{1,64}$/,
                'NAME=VALUE, e.g. x-dev=${USER}',
              )
              .optional()
              .describe(
                'a personal intercept: only HTTP requests with this header value come here (NAME=VALUE, e.g. x-dev=${USER}); others keep going to the pods',
              ),
          })
          .refine((expose) => !(expose.header && expose.mode && expose.mode !== 'personal'), {
            message: 'header makes an expose personal; leave mode out, or set it to personal',
            path: ['header'],
          })
          .refine((expose) => !(expose.mode === 'personal' && !expose.header), {
            message: 'a personal expose needs a header (NAME=VALUE, e.g. x-dev=${USER})',
            path: ['mode'],
          }),
      )
      .max(64)
      .optional(),
    run: z
      .array(
        z.strictObject({
          name: kubeName.describe('how its output is prefixed, and what `up` reports it as'),
          workload: z
            .string()
            .regex(
              /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/([a-z]+\/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
              'NAMESPACE/WORKLOAD: web/deploy/api, web/sts/kv, web/pod/api-0 or web/api',
            )
            .describe("the workload whose container's environment the process gets"),
          container: kubeName.optional().describe("the container; default: the workload's first"),
          command: z
            .union([z.string().min(1), z.array(z.string()).min(1)])
            .describe('a shell command line, or the program and its arguments'),
          workingDirectory: z
            .string()
            .min(1)
            .optional()
            .describe('where it runs, relative to this file; default: its directory'),
          files: z
            .string()
            .min(1)
            .optional()
            .describe("a directory (relative to this file) for the container's volume files while it runs"),
        }),
      )
      .max(32)
      .optional(),
  })
  .superRefine((file, context) => {
    const seen = new Map<string, string>();
    for (const [index, expose] of (file.exposes ?? []).entries()) {
      if (seen.has(expose.service))
        context.addIssue({
          code: 'custom',
          path: ['exposes', index, 'service'],
          message: `${expose.service} is exposed twice; one entry per service`,
        });
      seen.set(expose.service, expose.service);
    }
    const names = new Set<string>();
    for (const [index, process] of (file.run ?? []).entries()) {
      if (names.has(process.name))
        context.addIssue({
          code: 'custom',
          path: ['run', index, 'name'],
          message: `two processes are called ${process.name}; each needs its own name`,
        });
      names.add(process.name);
    }
  });

export type ProjectFile = z.infer<typeof projectFileSchema>;

/** The JSON Schema editors read (written to `schema/localizer.schema.json`). */
export function projectFileJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(projectFileSchema, { io: 'input' }),
    title: 'localizer.yaml',
    description:
      'What a project needs from the cluster: `localizer up` brings it up, `localizer down` undoes it.',
  };
}
