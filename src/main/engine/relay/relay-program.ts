/**
 * The program the egress relay pod runs: Python's standard library only, passed as the
 * container's argument, so the pod needs nothing but a public Python image (no build, no pull
 * from anywhere else, no internet at start). It listens on 127.0.0.1 in the pod, which only the
 * pod's port-forward reaches, and carries each stream to one target named in its arguments:
 *
 * - first line, from Localizer: `LOCALIZER-RELAY 1 tcp|udp HOST PORT`;
 * - answer: `OK` once the target is connected (TCP) or resolved (UDP), else `ERR why`;
 * - then TCP: the bytes, both ways, half-close kept;
 * - or UDP: frames both ways, `client id (u32) | length (u16) | datagram`, one UDP socket per
 *   client id in the pod, so each local client gets its own replies, later or unasked ones too.
 */
export const relayProgram = String.raw`
import asyncio, os, socket, struct, sys, time

ALLOWED = set(sys.argv[2:])
PORT = int(sys.argv[1])
LISTEN = os.environ.get('LOCALIZER_POD_LOOPBACK', '127.0.0.1')
IDLE_CLIENT_SECONDS = 120
MAX_CLIENTS = 4096
MAX_QUEUED = 4 * 1024 * 1024
# Reads pause once twice this much waits unread: small buffers would cap throughput.
BUFFER = 1024 * 1024

def reason(error):
    if isinstance(error, socket.gaierror):
        return 'cannot resolve the name: ' + str(error.args[-1])
    if isinstance(error, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(error, asyncio.TimeoutError):
        return 'no answer within 15 s'
    return (type(error).__name__ + ': ' + str(error)).replace('\n', ' ')

async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(BUFFER)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except Exception:
        writer.close()

async def relay_tcp(reader, writer, host, port):
    try:
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=BUFFER), 15)
    except Exception as error:
        writer.write(('ERR ' + reason(error) + '\n').encode())
        return
    up_writer.get_extra_info('socket').setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    writer.write(b'OK\n')
    try:
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
    finally:
        up_writer.close()

class Upstream(asyncio.DatagramProtocol):
    def __init__(self, client, writer):
        self.client, self.writer, self.used = client, writer, time.monotonic()
    def datagram_received(self, data, address):
        self.used = time.monotonic()
        if self.writer.transport.get_write_buffer_size() < MAX_QUEUED:
            self.writer.write(struct.pack('>IH', self.client, len(data)) + data)
    def error_received(self, error):
        pass

async def relay_udp(reader, writer, host, port):
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM), 15)
    except Exception as error:
        writer.write(('ERR ' + reason(error) + '\n').encode())
        return
    family, _, _, _, address = found[0]
    writer.write(b'OK\n')
    clients = {}
    async def sweep():
        while True:
            await asyncio.sleep(IDLE_CLIENT_SECONDS / 4)
            now = time.monotonic()
            for client, (transport, protocol) in list(clients.items()):
                if now - protocol.used > IDLE_CLIENT_SECONDS:
                    transport.close()
                    del clients[client]
    sweeper = asyncio.ensure_future(sweep())
    try:
        while True:
            client, length = struct.unpack('>IH', await reader.readexactly(6))
            datagram = await reader.readexactly(length)
            entry = clients.get(client)
            if entry is None:
                if len(clients) >= MAX_CLIENTS:
                    oldest = min(clients, key=lambda c: clients[c][1].used)
                    clients.pop(oldest)[0].close()
                entry = await loop.create_datagram_endpoint(
                    lambda: Upstream(client, writer), remote_addr=address, family=family)
                clients[client] = entry
            entry[1].used = time.monotonic()
            entry[0].sendto(datagram)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        sweeper.cancel()
        for transport, _ in clients.values():
            transport.close()

async def serve(reader, writer):
    try:
        line = await asyncio.wait_for(reader.readline(), 30)
        parts = line.decode('utf-8', 'replace').split()
        if len(parts) != 5 or parts[:2] != ['LOCALIZER-RELAY', '1'] or parts[2] not in ('tcp', 'udp'):
            writer.write(b'ERR not a Localizer relay request\n')
        elif parts[2] + ':' + parts[3] + ':' + parts[4] not in ALLOWED:
            writer.write(b'ERR this relay may not reach ' + (parts[3] + ':' + parts[4]).encode() + b'\n')
        elif parts[2] == 'tcp':
            await relay_tcp(reader, writer, parts[3], int(parts[4]))
        else:
            await relay_udp(reader, writer, parts[3], int(parts[4]))
    except Exception:
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(serve, LISTEN, PORT, limit=BUFFER)
    print('localizer relay listening on %s:%d for %d targets' % (LISTEN, PORT, len(ALLOWED)), flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
`;
