// @ts-check
/**
 * Test image `localizer-test/echo-server`: a TCP server that sends back every byte it receives
 * (after `LOCALIZER_GREETING`, when set), and on each UDP port it declares, answers every
 * datagram with its own content, to whoever sent it.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { containerPorts, containerUdpPorts, exitWithParent, podIp } from './container-env.mjs';

exitWithParent();
const greeting = process.env.LOCALIZER_GREETING ?? '';
for (const port of containerPorts(7)) {
  createServer((socket) => {
    socket.on('error', () => socket.destroy());
    if (greeting) socket.write(greeting);
    socket.pipe(socket);
  }).listen(port, podIp, () => console.log(`echo-server listening on ${podIp}:${port}`));
}
for (const port of containerUdpPorts()) {
  const socket = createSocket('udp4');
  socket.on('message', (datagram, from) => socket.send(datagram, from.port, from.address));
  socket.bind(port, podIp, () => console.log(`echo-server answering datagrams on ${podIp}:${port}/udp`));
}
