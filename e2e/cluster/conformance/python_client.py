"""Drives the test cluster with Debian's python3-kubernetes; prints one JSON result per command.

Usage: /usr/bin/python3 python_client.py KUBECONFIG COMMAND [ARGS...]
"""
import faulthandler
import json
import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward


def list_pods(api, namespace):
    pods = api.list_namespaced_pod(namespace)
    return {
        "resourceVersion": pods.metadata.resource_version,
        "pods": sorted(
            ({"name": p.metadata.name, "phase": p.status.phase, "ip": p.status.pod_ip} for p in pods.items),
            key=lambda p: p["name"],
        ),
    }


def watch_with_churn(api, namespace, name):
    listed = api.list_namespaced_service(namespace)
    events = []
    w = watch.Watch()

    def churn():
        body = client.V1Service(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1ServiceSpec(selector={"app": name}, ports=[client.V1ServicePort(port=8080)]),
        )
        api.create_namespaced_service(namespace, body)
        api.patch_namespaced_service(name, namespace, {"metadata": {"labels": {"touched": "yes"}}})
        api.delete_namespaced_service(name, namespace)

    threading.Timer(0.3, churn).start()
    for event in w.stream(
        api.list_namespaced_service,
        namespace,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=20,
    ):
        if event["object"].metadata.name != name:
            continue
        events.append(
            {
                "type": event["type"],
                "resourceVersion": event["object"].metadata.resource_version,
                "labels": event["object"].metadata.labels or {},
            }
        )
        if event["type"] == "DELETED":
            w.stop()
    return {"events": events}


def forward(api, namespace, pod, port, payload_size):
    pf = portforward(api.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))
    sock = pf.socket(port)
    sock.setblocking(True)
    payload = bytes((i * 7) % 251 for i in range(payload_size))
    # Send while reading: the client's own pump thread blocks once its socket to us is full, so
    # sending everything before reading deadlocks under load, whatever the server does.
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    sender.join()
    sock.close()
    error = pf.error(port)
    pf.close()
    return {"sent": len(payload), "received": len(received), "equal": received == payload, "error": error}


def forbidden(api, namespace):
    try:
        api.list_namespaced_service(namespace)
        return {"status": 200}
    except ApiException as error:
        body = json.loads(error.body)
        return {"status": error.status, "reason": body.get("reason"), "message": body.get("message")}


def main():
    kubeconfig, command, *args = sys.argv[1:]
    context = None
    if command == "forbidden":
        context = args[1]
    config.load_kube_config(config_file=kubeconfig, context=context)
    api = client.CoreV1Api()
    if command == "list-pods":
        result = list_pods(api, args[0])
    elif command == "watch-services":
        result = watch_with_churn(api, args[0], args[1])
    elif command == "forward":
        result = forward(api, args[0], args[1], int(args[2]), int(args[3]))
    elif command == "forbidden":
        result = forbidden(api, args[0])
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    # A hang (seen once in CI, in the port-forward) prints every thread's stack to stderr before
    # the test's 45 s timeout, so the failure says where the client was stuck.
    faulthandler.dump_traceback_later(40, exit=True)
    main()
