// @ts-check
/** Test image `localizer-test/http-server`: answers every request with its pod's name and namespace. */
import { createServer } from 'node:http';
import { containerPorts, exitWithParent, podIp } from './container-env.mjs';

exitWithParent();
const pod = process.env.POD_NAME ?? 'unknown';
const namespace = process.env.POD_NAMESPACE ?? 'unknown';

for (const port of containerPorts(8080)) {
  createServer((request, response) => {
    const body = JSON.stringify({ pod, namespace, port, method: request.method, path: request.url });
    response.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body) + 1,
    });
    response.end(`${body}\n`);
  }).listen(port, podIp, () => console.log(`http-server ${namespace}/${pod} listening on ${podIp}:${port}`));
}
