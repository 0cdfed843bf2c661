#!/usr/bin/env python3
"""lumos serve through real sockets on 127.0.0.1: answers against `lumos explain` on the same
image, dynamic batching, the queue's 503, deadlines, a client that leaves, bad requests (4xx
JSON naming the problem), /healthz, /metrics, and that the server outlives all of it.

  serve_test.py --lumos build/lumos --model MODEL.onnx --image FACE.png --fixtures build/fixtures --work DIR
"""
import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import cv2
import numpy as np

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message, flush=True)


class Server:
    def __init__(self, lumos, model, *flags):
        self.process = subprocess.Popen([lumos, "--threads", "2", "serve", "-m", model, "--port", "0", *flags],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not found:
            raise SystemExit(f"lumos serve did not start: {line}{self.process.stdout.read()}")
        self.port = int(found.group(1))

    def request(self, method, path, body=None, headers=None, timeout=300):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, dict(response.getheaders()), data

    def explain(self, query, body, content_type="image/png"):
        status, headers, data = self.request("POST", "/v1/explain" + query, body, {"Content-Type": content_type})
        try:
            answer = json.loads(data)
        except ValueError:
            answer = {"unparsed": data[:200]}
        return status, headers, answer

    def metrics(self):
        return self.request("GET", "/metrics")[2].decode()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=120)


def multipart(fields, file_name, content):
    boundary = "lumos-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{file_name}"\r\n'
                 f"Content-Type: image/png\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def png_pixels(b64):
    return cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_UNCHANGED)


def expect_error(server, status, part, query, body, content_type="image/png"):
    got, _, answer = server.explain(query, body, content_type)
    check(got == status and part in answer.get("error", ""),
          f"{query or 'POST'}: expected {status} naming '{part}', got {got} {answer}")


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--lumos", "--model", "--image", "--fixtures", "--work"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    face = pathlib.Path(args.image).read_bytes()
    started = time.time()

    # The reference: lumos explain on the same image, maps as .npy.
    subprocess.run([args.lumos, "--threads", "2", "explain", "-m", args.model, "-i", args.image, "-o", str(work / "cli"),
                    "--method", "gradcam,gradcam++", "--format", "json,npy"], check=True, capture_output=True)
    folder = work / "cli" / pathlib.Path(args.image).stem
    reference = json.loads((folder / "explanation.json").read_text())

    server = Server(args.lumos, args.model, "--max-batch", "4", "--max-wait-ms", "200", "--queue", "6",
                    "--max-body-mb", "1", "--max-pixels", "1000000")
    status, _, body = server.request("GET", "/healthz")
    check(status == 200 and json.loads(body)["status"] == "ok", f"/healthz: {status} {body}")

    # The accept queue takes a burst of clients (cpp-httplib's own backlog of 5 reset some of 32
    # clients connecting at once): for a listening socket, ss's Send-Q is its backlog.
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True).stdout.split()
    check(len(listening) >= 3 and int(listening[2]) >= 128, f"the listening socket's backlog: {listening}")

    # The same answer as the CLI's: predictions, the overlay's pixels, the float map.
    status, _, answer = server.explain("?method=gradcam,gradcam%2B%2B&raw=1", face)
    check(status == 200, f"explain: {status} {answer}")
    if status == 200:
        check([p["class"] for p in answer["predictions"]] == [p["class"] for p in reference["predictions"]],
              "predictions differ from lumos explain's")
        check(np.allclose([p["score"] for p in answer["predictions"]], [p["score"] for p in reference["predictions"]],
                          atol=1e-5), "scores differ from lumos explain's")
        for method in answer["targets"][0]["methods"]:
            cli = next(m for m in reference["targets"][0]["methods"] if m["method"] == method["method"])
            picture = cv2.cvtColor(cv2.imread(str(folder / cli["file"])), cv2.COLOR_BGR2RGB)
            check(np.array_equal(png_pixels(method["png"]["overlay"])[..., ::-1], cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)[..., ::-1]),
                  f"{method['method']}: the overlay differs from lumos explain's {cli['file']}")
            values = np.array(method["map_values"]["data"], np.float32).reshape(method["map_values"]["shape"])
            check(np.allclose(values, np.load(folder / cli["map"]), atol=1e-6),
                  f"{method['method']}: map_values differ from lumos explain's {cli['map']}")
        check(answer["image"] == "upload" and answer["model"] == pathlib.Path(args.model).name,
              f"names: {answer['image']}, {answer['model']}")

    # A multipart upload, its settings as fields; LIME's pictures.
    form, content_type = multipart({"method": "lime", "lime_samples": "50", "target": "happy"}, "me.png", face)
    status, _, answer = server.explain("", form, content_type)
    check(status == 200 and answer["image"] == "me.png" and answer["targets"][0]["label"] == "happy" and
          set(answer["targets"][0]["methods"][0]["png"]) == {"overlay", "mask", "heatmap"},
          f"multipart LIME: {status} {str(answer)[:300]}")

    # Requests that arrive together are scored as one batch, each with its own answer.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: server.explain("?method=gradcam", face), range(4)))
    check(all(a[0] == 200 for a in answers), f"concurrent: {[a[0] for a in answers]}")
    check(max(a[2].get("batch_size", 0) for a in answers) > 1, f"no batch: {[a[2].get('batch_size') for a in answers]}")
    check(len({json.dumps(a[2].get("predictions")) for a in answers}) == 1, "batched answers differ")

    # Bad requests: a 4xx JSON error naming the problem, nothing read from the server's files.
    images = pathlib.Path(args.fixtures) / "images"
    expect_error(server, 415, "cannot decode", "", b"just some text", "text/plain")
    expect_error(server, 415, "cannot decode", "", b"/etc/passwd", "text/plain")
    expect_error(server, 415, "truncated", "", (images / "truncated.png").read_bytes())
    expect_error(server, 413, "megapixels", "", (images / "huge_header.png").read_bytes())
    big = cv2.imencode(".png", np.zeros((1001, 1000, 3), np.uint8))[1].tobytes()
    expect_error(server, 413, "1001", "", big)
    bomb = bytearray(cv2.imencode(".bmp", np.zeros((2, 2, 3), np.uint8))[1].tobytes())
    bomb[18:26] = (30000).to_bytes(4, "little") + (30000).to_bytes(4, "little")  # a 900-megapixel BMP header
    expect_error(server, 413, "30000x30000", "", bytes(bomb))
    expect_error(server, 413, "limit of 1 MB", "", b"\x89PNG" + b"\0" * (1024 * 1024 + 10))
    expect_error(server, 400, "no image", "", b"")
    expect_error(server, 400, "bogus", "?method=gradcam,bogus", face)
    expect_error(server, 400, "no_such_layer", "?method=gradcam&layer=no_such_layer", face)
    expect_error(server, 400, "out of range", "?method=gradcam&target=99", face)
    expect_error(server, 400, "unknown parameter 'labels'", "?labels=/etc/passwd", face)
    expect_error(server, 400, "unknown parameter 'image'", "?image=/etc/hostname", face)
    expect_error(server, 400, "lime_samples", "?method=lime&lime_samples=100000", face)
    expect_error(server, 400, "given twice", "?top=1&top=2", face)
    status, _, body = server.request("GET", "/nowhere")
    check(status == 404 and "nothing answers GET /nowhere" in json.loads(body)["error"], f"/nowhere: {status} {body}")
    status, _, body = server.request("GET", "/v1/explain")
    check(status == 404 and "use POST /v1/explain" in json.loads(body)["error"], f"GET /v1/explain: {status} {body}")

    # A deadline: the work stops between steps and the answer says so.
    start = time.time()
    expect_error(server, 504, "deadline of 500 ms", "?method=lime&lime_samples=2000&deadline_ms=500", face)
    check(time.time() - start < 30, f"the deadline of 500 ms took {time.time() - start:.1f} s")

    # A client that leaves: its LIME is stopped (counted as 499) and the next request is served at once.
    leaving = socket.create_connection(("127.0.0.1", server.port))
    leaving.sendall(b"POST /v1/explain?method=lime&lime_samples=5000 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                    + f"Content-Length: {len(face)}\r\n\r\n".encode() + face)
    time.sleep(1.0)
    leaving.close()
    start = time.time()
    status, _, _ = server.explain("?method=gradcam", face)
    check(status == 200 and time.time() - start < 30, f"after a client left: {status} in {time.time() - start:.1f} s")
    for _ in range(60):
        if 'code="499"' in server.metrics():
            break
        time.sleep(0.5)
    check('code="499"' in server.metrics(), "the request of the client that left was not stopped")

    # A full queue: 503 with Retry-After for the requests beyond its 6, the others end at their deadline.
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: server.explain("?method=lime&lime_samples=2000&deadline_ms=2000", face),
                                range(12)))
    codes = sorted(a[0] for a in answers)
    print("full queue answered", codes, flush=True)
    check(codes.count(503) == 6 and set(codes) <= {503, 504, 200}, f"full queue: {codes}")
    check(all(a[1].get("Retry-After") == "1" and "busy" in a[2]["error"] for a in answers if a[0] == 503),
          "503 without Retry-After or message")

    text = server.metrics()
    for series in ('lumos_http_requests_total{path="/v1/explain",code="200"}', "lumos_http_errors_total",
                   'lumos_explain_latency_seconds_bucket{le="+Inf"}', "lumos_explain_latency_seconds_count",
                   'lumos_batch_size_bucket{le="4"}', "lumos_queue_depth 0", "lumos_queue_capacity 6"):
        check(series in text, f"/metrics lacks {series}")
    status, headers, page = server.request("GET", "/")
    check(status == 200 and b"v1/explain" in page and not re.search(rb"(src|href)=\"?https?:", page),
          "GET / is not the self-contained page")

    status, _, _ = server.request("GET", "/healthz")
    check(status == 200 and server.process.poll() is None, "the server did not outlive the requests")
    check(server.stop() == 0, "lumos serve did not stop cleanly on SIGTERM")
    print(f"serve_test: {'FAILED ' + str(len(failures)) if failures else 'passed'} in {time.time() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
