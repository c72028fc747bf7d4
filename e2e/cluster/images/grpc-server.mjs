// @ts-check
/**
 * Test image `localizer-test/grpc-server`: a gRPC server (grpc-js, HTTP/2 over TCP) with one
 * service, `localizer.test.Lines`, whose messages are plain UTF-8 (no .proto needed on either side):
 * - `Say` (unary): `<request> from <pod>`;
 * - `Count` (server streaming): the request is a number n; n messages `0`…`n-1`, then OK;
 * - `Echo` (bidirectional): each message back as it arrives, until the client ends.
 */
import * as grpc from '@grpc/grpc-js';
import { containerPorts, exitWithParent, podIp } from './container-env.mjs';

exitWithParent();
const pod = process.env.POD_NAME ?? 'unknown';
const text = {
  serialize: (/** @type {string} */ value) => Buffer.from(value),
  deserialize: (/** @type {Buffer} */ value) => value.toString(),
};
/** @param {string} name @param {boolean} requestStream @param {boolean} responseStream */
const method = (name, requestStream, responseStream) => ({
  path: `/localizer.test.Lines/${name}`,
  requestStream,
  responseStream,
  requestSerialize: text.serialize,
  requestDeserialize: text.deserialize,
  responseSerialize: text.serialize,
  responseDeserialize: text.deserialize,
});

const server = new grpc.Server();
server.addService(
  { Say: method('Say', false, false), Count: method('Count', false, true), Echo: method('Echo', true, true) },
  {
    /** @type {grpc.handleUnaryCall<string, string>} */
    Say: (call, callback) => callback(null, `${call.request} from ${pod}`),
    /** @type {grpc.handleServerStreamingCall<string, string>} */
    Count: (call) => {
      const total = Number(call.request);
      let next = 0;
      // As fast as the client reads: write until the stream asks us to wait.
      const more = () => {
        while (next < total && !call.cancelled)
          if (!call.write(String(next++))) return void call.once('drain', more);
        if (!call.cancelled) call.end();
      };
      more();
    },
    /** @type {grpc.handleBidiStreamingCall<string, string>} */
    Echo: (call) => {
      call.on('data', (message) => call.write(message));
      call.on('end', () => call.end());
    },
  },
);
for (const port of containerPorts(50051))
  server.bindAsync(`${podIp}:${String(port)}`, grpc.ServerCredentials.createInsecure(), (error) => {
    if (error) throw error;
    console.log(`grpc-server ${pod} listening on ${podIp}:${String(port)}`);
  });
