// @ts-check
/**
 * Test image `localizer-test/bulk-server`, for benchmarks. A client sends one line:
 * `SEND <bytes>` makes the server stream that many bytes and close; `RECV <bytes>` makes it read
 * that many and answer `OK <bytes>`.
 */
import { createServer } from 'node:net';
import { containerPorts, exitWithParent, podIp } from './container-env.mjs';

exitWithParent();
const block = Buffer.alloc(256 * 1024, 0x61);

for (const port of containerPorts(9000)) {
  createServer((socket) => {
    socket.on('error', () => socket.destroy());
    let header = '';
    const onHeader = (/** @type {Buffer} */ chunk) => {
      header += chunk.toString('latin1');
      const end = header.indexOf('\n');
      if (end < 0) return;
      socket.off('data', onHeader);
      const [command, count] = header.slice(0, end).trim().split(/\s+/);
      const total = Number(count);
      if (command === 'SEND' && total >= 0) send(socket, total);
      else if (command === 'RECV' && total >= 0)
        receive(socket, total, Buffer.byteLength(header.slice(end + 1), 'latin1'));
      else socket.end('ERR expected SEND <bytes> or RECV <bytes>\n');
    };
    socket.on('data', onHeader);
  }).listen(port, podIp, () => console.log(`bulk-server listening on ${podIp}:${port}`));
}

function send(/** @type {import('node:net').Socket} */ socket, /** @type {number} */ total) {
  let left = total;
  // Tests watch for this line: a forwarder must stop the pod when its caller goes away.
  socket.on('close', () => {
    if (left > 0) console.log(`client went away after ${total - left} of ${total} bytes`);
  });
  const pump = () => {
    while (left > 0) {
      const chunk = left >= block.length ? block : block.subarray(0, left);
      left -= chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
    socket.end();
  };
  pump();
}

function receive(
  /** @type {import('node:net').Socket} */ socket,
  /** @type {number} */ total,
  /** @type {number} */ already,
) {
  let received = already;
  const finish = () => socket.end(`OK ${received}\n`);
  if (received >= total) return finish();
  socket.on('data', (chunk) => {
    received += chunk.length;
    if (received >= total) finish();
  });
}
