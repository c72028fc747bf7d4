// @ts-check
/**
 * Test image `localizer-test/http-server`: answers every request with its pod's name and
 * namespace, and `GET /bytes/<n>` with n bytes (as httpbin does), for benchmarks.
 */
import { createServer } from 'node:http';
import { containerPorts, exitWithParent, podIp } from './container-env.mjs';

exitWithParent();
const pod = process.env.POD_NAME ?? 'unknown';
const namespace = process.env.POD_NAMESPACE ?? 'unknown';

for (const port of containerPorts(8080)) {
  createServer((request, response) => {
    const bytes = /^\/bytes\/(\d+)$/.exec(request.url ?? '');
    if (bytes) return sendBytes(response, Number(bytes[1]));
    const body = JSON.stringify({ pod, namespace, port, method: request.method, path: request.url });
    response.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body) + 1,
    });
    response.end(`${body}\n`);
  }).listen(port, podIp, () => console.log(`http-server ${namespace}/${pod} listening on ${podIp}:${port}`));
}

const block = Buffer.alloc(256 * 1024, 0x62);

/** `total` bytes with their length, written as fast as the client reads them. */
function sendBytes(/** @type {import('node:http').ServerResponse} */ response, /** @type {number} */ total) {
  response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total });
  let left = total;
  const pump = () => {
    while (left > 0) {
      const chunk = left >= block.length ? block : block.subarray(0, left);
      left -= chunk.length;
      if (!response.write(chunk)) return void response.once('drain', pump);
    }
    response.end();
  };
  pump();
}
