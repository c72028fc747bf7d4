/**
 * Port-forward over SPDY/3.1, as the kubelet serves kubectl: each forwarded connection is a pair
 * of client-opened streams sharing a `requestid`, first `streamtype: error` then `streamtype: data`.
 * Bytes flow raw on the data stream; a failure is written as text on the error stream.
 */
import type { Socket } from 'node:net';
import type { ByteChannel } from './byte-channel';
import {
  controlFrame,
  dataFrame,
  flagFin,
  FrameReader,
  frameTypes,
  HeaderCodec,
} from '../../../src/main/engine/kube/spdy/spdy-framing';

export type Dial = (port: number) => Promise<Socket>;

interface StreamPair {
  requestId: string;
  errorStream?: number;
  dataStream?: number;
  port: number;
  socket?: Socket;
  pending: Buffer[];
  clientFinished: boolean;
}

const maxDataPayload = 0xffffff;

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export function serveSpdyPortForward(
  channel: ByteChannel,
  dial: Dial,
  describeFailure: (port: number, error: Error) => string,
  isFrozen: () => boolean = () => false,
): void {
  const reader = new FrameReader();
  const codec = new HeaderCodec();
  const pairs = new Map<string, StreamPair>();
  const byStream = new Map<number, StreamPair>();
  const paused = new Set<Socket>();
  let closed = false;

  const send = (bytes: Buffer): void => {
    if (closed) return;
    if (!channel.write(bytes)) {
      for (const pair of pairs.values()) {
        if (pair.socket && !paused.has(pair.socket)) {
          pair.socket.pause();
          paused.add(pair.socket);
        }
      }
    }
  };
  channel.onDrain(() => {
    for (const socket of paused) socket.resume();
    paused.clear();
  });

  const sendData = (streamId: number, bytes: Buffer, fin: boolean): void => {
    for (let offset = 0; offset < bytes.length; offset += maxDataPayload) {
      const last = offset + maxDataPayload >= bytes.length;
      send(dataFrame(streamId, fin && last ? flagFin : 0, bytes.subarray(offset, offset + maxDataPayload)));
    }
    if (bytes.length === 0 && fin) send(dataFrame(streamId, flagFin, Buffer.alloc(0)));
  };

  /** A finished pair is forgotten: one session may carry many thousands. */
  const forget = (pair: StreamPair): void => {
    pairs.delete(pair.requestId);
    if (pair.errorStream !== undefined) byStream.delete(pair.errorStream);
    if (pair.dataStream !== undefined) byStream.delete(pair.dataStream);
  };

  const finish = (pair: StreamPair): void => {
    if (pair.errorStream !== undefined) sendData(pair.errorStream, Buffer.alloc(0), true);
    forget(pair);
  };

  const connectPair = (pair: StreamPair): void => {
    const dataStream = pair.dataStream;
    if (dataStream === undefined) return;
    dial(pair.port).then(
      (socket) => {
        if (closed) {
          socket.destroy();
          return;
        }
        pair.socket = socket;
        for (const chunk of pair.pending) socket.write(chunk);
        pair.pending = [];
        if (pair.clientFinished) socket.end();
        // The data stream ends however the pod's connection does: a reset (a killed process
        // with unread data) ends it as a FIN does, as the kubelet closes it when its copy fails.
        let dataEnded = false;
        const endData = (): void => {
          if (dataEnded) return;
          dataEnded = true;
          sendData(dataStream, Buffer.alloc(0), true);
        };
        socket.on('data', (chunk: Buffer) => sendData(dataStream, chunk, false));
        socket.on('end', endData);
        socket.on('error', () => socket.destroy());
        socket.on('close', () => {
          paused.delete(socket);
          endData();
          finish(pair);
        });
      },
      (error: unknown) => {
        if (pair.errorStream !== undefined)
          sendData(pair.errorStream, Buffer.from(describeFailure(pair.port, asError(error))), true);
        sendData(dataStream, Buffer.alloc(0), true);
        forget(pair);
      },
    );
  };

  const onSynStream = (payload: Buffer): void => {
    const streamId = payload.readUInt32BE(0) & 0x7fffffff;
    const headers = codec.decode(payload.subarray(10));
    send(controlFrame(frameTypes.synReply, 0, Buffer.concat([payload.subarray(0, 4), codec.encode({})])));
    const requestId = headers.get('requestid') ?? String(streamId);
    const port = Number(headers.get('port'));
    const pair = pairs.get(requestId) ?? { requestId, port, pending: [], clientFinished: false };
    pairs.set(requestId, pair);
    byStream.set(streamId, pair);
    if (headers.get('streamtype') === 'error') {
      pair.errorStream = streamId;
    } else if (headers.get('streamtype') === 'data') {
      pair.dataStream = streamId;
      connectPair(pair);
    }
  };

  const onData = (streamId: number, flags: number, payload: Buffer): void => {
    const pair = byStream.get(streamId);
    if (!pair || streamId !== pair.dataStream) return;
    if (pair.socket) {
      if (payload.length > 0) pair.socket.write(payload);
      if (flags & flagFin) pair.socket.end();
    } else {
      if (payload.length > 0) pair.pending.push(Buffer.from(payload));
      if (flags & flagFin) pair.clientFinished = true;
    }
  };

  const shutdown = (): void => {
    if (closed) return;
    closed = true;
    for (const pair of pairs.values()) pair.socket?.destroy();
    channel.close();
  };

  channel.onData((chunk) => {
    if (isFrozen()) return;
    let frames;
    try {
      frames = reader.push(chunk);
    } catch {
      shutdown();
      return;
    }
    for (const frame of frames) {
      if (!frame.control) {
        onData(frame.streamId, frame.flags, frame.payload);
        continue;
      }
      switch (frame.type) {
        case frameTypes.synStream:
          onSynStream(frame.payload);
          break;
        case frameTypes.headers:
          codec.decode(frame.payload.subarray(4));
          break;
        case frameTypes.rstStream: {
          const pair = byStream.get(frame.payload.readUInt32BE(0) & 0x7fffffff);
          pair?.socket?.destroy();
          break;
        }
        case frameTypes.ping:
          send(controlFrame(frameTypes.ping, 0, frame.payload));
          break;
        case frameTypes.goAway:
          shutdown();
          break;
      }
    }
  });
  channel.onClose(shutdown);
}
