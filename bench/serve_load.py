#!/usr/bin/env python3
"""Load test of lumos serve on loopback, bounded in time and count: CLIENTS clients (default 32),
each on its own keep-alive connection, post Grad-CAM requests for SECONDS (default 30); then
the requests under way finish. Per configuration (a model, dynamic batching off or on): requests
per second, p50/p99 latency, errors (anything but 200), the server's resident memory after the
model is loaded and after the run, and the mean batch size from /metrics. Prints a Markdown
table (docs/serve.md).

  bench/serve_load.py --lumos build/lumos --image samples/faces/astronaut.png \
      --model face=build/third_party/models/face_expression.onnx \
      --model resnet50=build/fixtures/torchvision/resnet50.onnx [--clients 32] [--seconds 30]
"""
import argparse
import http.client
import re
import subprocess
import threading
import time

CONFIGURATIONS = {"off": ["--max-batch", "1", "--max-wait-ms", "0"], "on": ["--max-batch", "8", "--max-wait-ms", "5"]}


def resident_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+) kB", status.read()).group(1)) / 1024


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(args, model, batching):
    server = subprocess.Popen([args.lumos, "serve", "-m", model, "--port", "0", "--queue", "64",
                               "--deadline-ms", "300000", *CONFIGURATIONS[batching]],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = int(re.search(r"127\.0\.0\.1:(\d+)/", server.stdout.readline()).group(1))
    image = open(args.image, "rb").read()
    rss_before = resident_mb(server.pid)
    latencies, errors, lock = [], [], threading.Lock()
    stop_at = time.monotonic() + args.seconds

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while time.monotonic() < stop_at:
            start = time.monotonic()
            try:
                connection.request("POST", "/v1/explain?method=gradcam", image, {"Content-Type": "image/png"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                status = repr(error)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            with lock:
                if status == 200:
                    latencies.append((start, time.monotonic() - start))
                else:
                    errors.append(status)
        connection.close()

    began = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    metrics = http.client.HTTPConnection("127.0.0.1", port)
    metrics.request("GET", "/metrics")
    text = metrics.getresponse().read().decode()
    batch_sum = float(re.search(r"^lumos_batch_size_sum (\S+)", text, re.M).group(1))
    batch_count = float(re.search(r"^lumos_batch_size_count (\S+)", text, re.M).group(1))
    rss_after = resident_mb(server.pid)
    server.terminate()
    server.wait(timeout=120)
    seconds = [s for _, s in latencies]
    return {"requests": len(seconds), "per_s": len(seconds) / elapsed, "p50": percentile(seconds, 0.5),
            "p99": percentile(seconds, 0.99), "errors": len(errors), "error_kinds": sorted(set(map(str, errors))),
            "rss_before": rss_before, "rss_after": rss_after,
            "batch": batch_sum / batch_count if batch_count else 0, "elapsed": elapsed}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lumos", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH; repeat")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    print(f"{args.clients} clients, {args.seconds:.0f} s each, Grad-CAM, loopback\n")
    print("| model | batching | requests | requests/s | p50 s | p99 s | errors | mean batch | RSS before → after MB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for named in args.model:
        name, path = named.split("=", 1)
        for batching in CONFIGURATIONS:
            r = run(args, path, batching)
            print(f"| {name} | {batching} | {r['requests']} | {r['per_s']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                  f"{r['errors']}{' ' + ', '.join(r['error_kinds']) if r['errors'] else ''} | {r['batch']:.1f} | "
                  f"{r['rss_before']:.0f} → {r['rss_after']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
