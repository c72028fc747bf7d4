/**
 * Localizer's end of the relay protocol (the pod's end is `relay-program.ts`): the request line
 * and its answer, and the UDP frames that keep datagram boundaries and say which local client
 * each datagram is from or for.
 */
import type { Duplex } from 'node:stream';

export type RelayProtocol = 'tcp' | 'udp';

export interface RelayDestination {
  host: string;
  port: number;
}

/** The relay answered `ERR`: the target is unreachable from the cluster, or not allowed. */
export class RelayRefusedError extends Error {
  override name = 'RelayRefusedError';
}

/** `tcp:billing.example.com:443`: how the relay's arguments and requests name a target. */
export function targetKey(protocol: RelayProtocol, destination: RelayDestination): string {
  return `${protocol}:${destination.host}:${String(destination.port)}`;
}

const longestAnswer = 1024;

/**
 * Sends the request line and resolves with the stream once the relay says `OK` (bytes after the
 * answer stay in the stream); rejects with the relay's reason, or when the stream ends first.
 */
export function requestRelay(
  stream: Duplex,
  protocol: RelayProtocol,
  destination: RelayDestination,
): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let answer = Buffer.alloc(0);
    const cleanUp = (): void => {
      stream.off('data', onData);
      stream.off('error', onFail);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
    };
    const onFail = (error: Error): void => {
      cleanUp();
      stream.destroy();
      reject(error);
    };
    const onEnd = (): void => onFail(new Error('the relay closed the stream before answering'));
    const onData = (chunk: Buffer): void => {
      answer = Buffer.concat([answer, chunk]);
      const end = answer.indexOf(10);
      if (end < 0) {
        if (answer.length > longestAnswer) onFail(new Error('the relay sent no answer line'));
        return;
      }
      cleanUp();
      stream.pause();
      const line = answer.subarray(0, end).toString('utf8');
      const rest = answer.subarray(end + 1);
      if (line !== 'OK') {
        stream.destroy();
        reject(new RelayRefusedError(line.replace(/^ERR /, '')));
        return;
      }
      if (rest.length > 0) stream.unshift(rest);
      resolve(stream);
    };
    stream.on('data', onData);
    stream.once('error', onFail);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.write(`LOCALIZER-RELAY 1 ${protocol} ${destination.host} ${String(destination.port)}\n`);
  });
}

const frameHeaderBytes = 6;
export const largestDatagram = 65_507;

export function encodeDatagram(client: number, datagram: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + datagram.length);
  frame.writeUInt32BE(client, 0);
  frame.writeUInt16BE(datagram.length, 4);
  datagram.copy(frame, frameHeaderBytes);
  return frame;
}

/** Splits a byte stream back into the datagrams it carries, however TCP cut it. */
export class DatagramDecoder {
  private pending = Buffer.alloc(0);

  constructor(private readonly onDatagram: (client: number, datagram: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buffer = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buffer.length >= frameHeaderBytes) {
      const length = buffer.readUInt16BE(4);
      if (buffer.length < frameHeaderBytes + length) break;
      this.onDatagram(buffer.readUInt32BE(0), buffer.subarray(frameHeaderBytes, frameHeaderBytes + length));
      buffer = buffer.subarray(frameHeaderBytes + length);
    }
    this.pending = Buffer.from(buffer);
  }
}
