/**
 * Request bodies in Kubernetes' protobuf form (`application/vnd.kubernetes.protobuf`), which
 * kubectl's imperative commands send (`create namespace`, `create deployment`, `run`,
 * `expose`, …), turned into the JSON objects the rest of the API server handles. The wire
 * format is protobufjs's; the envelope and the field numbers are Kubernetes': the bytes
 * `k8s\0`, then a `runtime.Unknown` whose `raw` is the object's message.
 */
import protobuf from 'protobufjs';
import { ApiError } from '../status-errors';
import { kubeMessages, messageOfKind } from './kube-messages';

const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const scalars = new Set(['string', 'int32', 'int64', 'bool', 'bytes']);

/** Inline fields (Go's embedded structs), by message: JSON has their fields in the parent. */
const inlineFields = new Map<string, Set<string>>();

function buildRoot(): protobuf.Root {
  const root = new protobuf.Root();
  for (const [messageName, fields] of Object.entries(kubeMessages)) {
    const type = new protobuf.Type(messageName);
    for (const [declared, spec] of Object.entries(fields)) {
      const [id, marked = ''] = spec.split(' ');
      const typeName = marked.replace(/\?$/, '');
      const inline = declared.startsWith('...');
      const name = inline ? declared.slice(3) : declared;
      if (inline) {
        const set = inlineFields.get(messageName) ?? new Set<string>();
        set.add(name);
        inlineFields.set(messageName, set);
      }
      if (typeName.startsWith('map:')) {
        type.add(new protobuf.MapField(name, Number(id), 'string', typeName.slice(4)));
      } else if (typeName.endsWith('[]')) {
        type.add(new protobuf.Field(name, Number(id), typeName.slice(0, -2), 'repeated'));
      } else {
        type.add(new protobuf.Field(name, Number(id), typeName));
      }
      const element = typeName.replace(/^map:/, '').replace(/\[\]$/, '');
      if (!scalars.has(element) && !(element in kubeMessages))
        throw new Error(`kube-messages: ${messageName}.${name} names unknown message ${element}`);
    }
    root.add(type);
  }
  root.resolveAll();
  return root;
}

let root: protobuf.Root | undefined;
function messageType(name: string): protobuf.Type {
  root ??= buildRoot();
  return root.lookupType(name);
}

/** Go's RFC 3339 form for a metav1.Time, as JSON carries it. */
function timeText(value: { seconds?: number; nanos?: number }): string {
  return new Date((value.seconds ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Turns protobufjs's plain object into Kubernetes' JSON form, message by message. */
function toKubeJson(messageName: string, value: Record<string, unknown>): Record<string, unknown> {
  const fields = kubeMessages[messageName] ?? {};
  const inline = inlineFields.get(messageName);
  const result: Record<string, unknown> = {};
  for (const [declared, spec] of Object.entries(fields)) {
    const name = declared.startsWith('...') ? declared.slice(3) : declared;
    const fieldValue = value[name];
    if (fieldValue === undefined || fieldValue === null) continue;
    const marked = spec.split(' ')[1] ?? '';
    const keepsZero = marked.endsWith('?');
    const typeName = marked.replace(/\?$/, '').replace(/^map:/, '').replace(/\[\]$/, '');
    const convert = (item: unknown): unknown => special(typeName, item);
    let converted: unknown;
    if (spec.includes(' map:')) {
      converted = Object.fromEntries(
        Object.entries(fieldValue as Record<string, unknown>).map(([k, v]) => [k, convert(v)]),
      );
    } else if (Array.isArray(fieldValue)) {
      converted = fieldValue.map(convert);
    } else {
      converted = convert(fieldValue);
      if (!keepsZero && isZero(converted)) continue;
    }
    if (inline?.has(name)) Object.assign(result, converted);
    else result[name] = converted;
  }
  return result;
}

/** Go's zero values, which its JSON leaves out of a non-pointer field tagged omitempty. */
function isZero(value: unknown): boolean {
  return value === '' || value === 0 || value === false || value === zeroTime;
}

const zeroTime = Symbol('zero time');

function special(typeName: string, item: unknown): unknown {
  if (scalars.has(typeName)) return item;
  const record = item as Record<string, unknown>;
  if (typeName === 'IntOrString')
    return Number(record.type ?? 0) === 1 ? (record.strVal ?? '') : (record.intVal ?? 0);
  if (typeName === 'Quantity') return record.string ?? '';
  if (typeName === 'Time') {
    const time = record as { seconds?: number; nanos?: number };
    return (time.seconds ?? 0) === 0 && (time.nanos ?? 0) === 0 ? zeroTime : timeText(time);
  }
  return toKubeJson(typeName, record);
}

/** Whether `contentType` is Kubernetes' protobuf media type. */
export function isKubeProtobuf(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim() === 'application/vnd.kubernetes.protobuf';
}

/**
 * Decodes a protobuf request body into the object's JSON form, with its `apiVersion` and
 * `kind`. Throws an `ApiError` as the API server words it for a body it cannot read.
 */
export function decodeKubeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < magic.length || !body.subarray(0, magic.length).equals(magic)) {
    throw new ApiError(
      400,
      'BadRequest',
      'provided object is not a protobuf-encoded Kubernetes object: missing the "k8s\\x00" prefix',
    );
  }
  let envelope: Record<string, unknown>;
  try {
    envelope = messageType('Unknown').toObject(messageType('Unknown').decode(body.subarray(magic.length)), {
      longs: Number,
      bytes: Buffer,
    });
  } catch (error) {
    throw new ApiError(
      400,
      'BadRequest',
      `the protobuf body could not be decoded: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const typeMeta = (envelope.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const kind = typeMeta.kind ?? '';
  const messageName = messageOfKind[kind];
  if (!messageName) {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the test cluster does not decode protobuf bodies of kind ${JSON.stringify(kind)}; send it as application/json`,
    );
  }
  const raw = envelope.raw instanceof Uint8Array ? envelope.raw : new Uint8Array();
  let decoded: Record<string, unknown>;
  try {
    const type = messageType(messageName);
    decoded = type.toObject(type.decode(raw), { longs: Number, bytes: String });
  } catch (error) {
    throw new ApiError(
      400,
      'BadRequest',
      `the protobuf body of kind ${kind} could not be decoded: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return { apiVersion: typeMeta.apiVersion, kind, ...toKubeJson(messageName, decoded) };
}
