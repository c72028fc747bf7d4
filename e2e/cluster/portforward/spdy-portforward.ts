/**
 * Port-forward over SPDY/3.1, as the kubelet serves kubectl: each forwarded connection is a pair
 * of client-opened streams sharing a `requestid`, first `streamtype: error` then `streamtype: data`.
 * Bytes flow raw on the data stream; a failure is written as text on the error stream.
 *
 * Each connection is copied both ways as containerd's CRI port-forward copies it
 * (`internal/cri/server/sandbox_portforward_linux.go`): once either direction ends (the client's
 * FIN, the pod's EOF or a failed copy), the other gets at most `copyGraceMs` (1 s) more; the
 * pod's socket is never half-closed; then both close: the pod's socket, a FIN on the data
 * stream, and (the kubelet's `httpstream.go`) the copy's error, if any, on the error stream
 * before its FIN.
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
/** The kubelet's words for a failed forward: the dial to the pod, or the copy once connected. */
export type DescribeFailure = (port: number, error: Error, during: 'dial' | 'copy') => string;

interface StreamPair {
  requestId: string;
  errorStream?: number;
  dataStream?: number;
  port: number;
  socket?: Socket;
  pending: Buffer[];
  clientFinished: boolean;
  /** containerd's wait for the second direction, once the first has ended. */
  graceTimer?: NodeJS.Timeout;
  /** Why the first direction to end ended, when it failed. */
  copyError?: Error;
  closed: boolean;
}

const maxDataPayload = 0xffffff;
/** containerd gives the second direction this long once the first has ended (cri-dockerd: 0.5 s). */
export const copyGraceMs = 1_000;

/** What a session answers; tests stall one, as a connection that stops carrying anything. */
export interface SpdySessionControl {
  /** From now on the session takes what it is sent and answers nothing. */
  stall(): void;
  /** Cuts the session's connection, as a load balancer does at a fixed age. */
  cut(): void;
}

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export function serveSpdyPortForward(
  channel: ByteChannel,
  dial: Dial,
  describeFailure: DescribeFailure,
  isFrozen: () => boolean = () => false,
): SpdySessionControl {
  const reader = new FrameReader();
  const codec = new HeaderCodec();
  const pairs = new Map<string, StreamPair>();
  const byStream = new Map<number, StreamPair>();
  const paused = new Set<Socket>();
  let closed = false;
  let stalled = false;

  const send = (bytes: Buffer): void => {
    if (closed || stalled) return;
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

  /** Both directions are done (or the grace ran out): close everything, as containerd and the kubelet do. */
  const closePair = (pair: StreamPair): void => {
    if (pair.closed) return;
    pair.closed = true;
    clearTimeout(pair.graceTimer);
    pair.socket?.destroy();
    if (pair.dataStream !== undefined) sendData(pair.dataStream, Buffer.alloc(0), true);
    if (pair.copyError && pair.errorStream !== undefined)
      sendData(pair.errorStream, Buffer.from(describeFailure(pair.port, pair.copyError, 'copy')), false);
    finish(pair);
  };

  /** One direction ended: the other gets at most `copyGraceMs` more. */
  const directionEnded = (pair: StreamPair, error?: Error): void => {
    pair.copyError ??= error;
    if (pair.graceTimer) {
      closePair(pair);
      return;
    }
    pair.graceTimer = setTimeout(() => closePair(pair), copyGraceMs);
  };

  const connectPair = (pair: StreamPair): void => {
    const dataStream = pair.dataStream;
    if (dataStream === undefined) return;
    dial(pair.port).then(
      (socket) => {
        if (closed || pair.closed) {
          socket.destroy();
          return;
        }
        pair.socket = socket;
        for (const chunk of pair.pending) socket.write(chunk);
        pair.pending = [];
        if (pair.clientFinished) directionEnded(pair);
        socket.on('data', (chunk: Buffer) => sendData(dataStream, chunk, false));
        socket.on('end', () => directionEnded(pair));
        socket.on('error', (error) => {
          directionEnded(pair, error);
          socket.destroy();
        });
        socket.on('close', () => paused.delete(socket));
      },
      (error: unknown) => {
        if (pair.errorStream !== undefined)
          sendData(pair.errorStream, Buffer.from(describeFailure(pair.port, asError(error), 'dial')), true);
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
    const pair = pairs.get(requestId) ?? {
      requestId,
      port,
      pending: [],
      clientFinished: false,
      closed: false,
    };
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
    if (pair.closed) return;
    if (pair.socket) {
      if (payload.length > 0) pair.socket.write(payload);
      // containerd's copy to the pod just returns: the pod's socket is not half-closed.
      if (flags & flagFin) directionEnded(pair);
    } else {
      if (payload.length > 0) pair.pending.push(Buffer.from(payload));
      if (flags & flagFin) pair.clientFinished = true;
    }
  };

  const shutdown = (): void => {
    if (closed) return;
    closed = true;
    for (const pair of pairs.values()) {
      clearTimeout(pair.graceTimer);
      pair.socket?.destroy();
    }
    channel.close();
  };

  channel.onData((chunk) => {
    if (isFrozen() || stalled) return;
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
          if (pair) {
            pair.closed = true;
            clearTimeout(pair.graceTimer);
            pair.socket?.destroy();
            forget(pair);
          }
          break;
        }
        case frameTypes.ping:
          // spdystream answers the PINGs of the other side only (odd ids, from a client).
          if (frame.payload.readUInt32BE(0) % 2 === 1) send(controlFrame(frameTypes.ping, 0, frame.payload));
          break;
        case frameTypes.goAway:
          shutdown();
          break;
      }
    }
  });
  channel.onClose(shutdown);
  return {
    stall: () => {
      stalled = true;
      for (const pair of pairs.values()) pair.socket?.pause();
    },
    cut: shutdown,
  };
}
