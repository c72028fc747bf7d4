// @ts-check
/** Test image `localizer-test/echo-server`: a TCP server that sends back every byte it receives. */
import { createServer } from 'node:net';
import { containerPorts, exitWithParent, podIp } from './container-env.mjs';

exitWithParent();
for (const port of containerPorts(7)) {
  createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  }).listen(port, podIp, () => console.log(`echo-server listening on ${podIp}:${port}`));
}
