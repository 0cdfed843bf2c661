#!/usr/bin/env python3
"""lumos serve's page (GET /) in headless Chromium: upload the sample face through the file
input, wait for every overlay, check the top class and that nothing came from elsewhere;
optionally save the screenshot docs/serve.md shows.

  serve_browser_test.py --lumos build/lumos --model MODEL.onnx --image FACE.png [--screenshot docs/images/serve.png]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser"))
from chromium import Chromium  # noqa: E402
from serve_test import Server  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lumos", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--top", default="happy", help="the top class the page must show")
    parser.add_argument("--screenshot")
    args = parser.parse_args()
    started = time.monotonic()
    failures = []
    server = Server(os.path.abspath(args.lumos), os.path.abspath(args.model))
    try:
        with Chromium(timeout=120) as browser:
            page = browser.new_page(1280, 800)
            page.send("Network.enable")
            page.open(f"http://127.0.0.1:{server.port}/")
            page.evaluate("document.getElementById('lime-samples').value = '100'")  # short on a busy machine
            document = page.send("DOM.getDocument")["root"]["nodeId"]
            file_input = page.send("DOM.querySelector", {"nodeId": document, "selector": "#image"})["nodeId"]
            page.send("DOM.setFileInputFiles", {"nodeId": file_input, "files": [os.path.abspath(args.image)]})
            shown = page.evaluate("""new Promise((done, fail) => {
              const until = Date.now() + 110000;
              const wait = () => {
                const pictures = [...document.querySelectorAll('#pictures img')];
                if (document.body.dataset.top && pictures.every(i => i.complete))
                  done({top: document.body.dataset.top, pictures: pictures.length,
                        drawn: pictures.filter(i => i.naturalWidth > 0).length,
                        methods: [...document.querySelectorAll('#pictures figcaption b')].map(b => b.textContent),
                        status: document.getElementById('status').textContent});
                else if (document.getElementById('status').className === 'error' || Date.now() > until)
                  fail(new Error(document.getElementById('status').textContent || 'no answer in time'));
                else setTimeout(wait, 100);
              };
              wait();
            })""")
            print("page:", shown)
            if shown["top"] != args.top:
                failures.append(f"top class {shown['top']!r}, expected {args.top!r}")
            if shown["methods"] != ["input", "gradcam", "gradcam++", "lime"] or shown["drawn"] != shown["pictures"]:
                failures.append(f"pictures: {shown}")
            requests = [e["params"]["request"]["url"] for e in browser._events
                        if e["method"] == "Network.requestWillBeSent"]
            outside = [u for u in requests if not u.startswith((f"http://127.0.0.1:{server.port}/", "data:", "blob:"))]
            if outside:
                failures.append(f"the page loaded from elsewhere: {outside}")
            if page.exceptions():
                failures.append(f"script errors: {page.exceptions()}")
            if args.screenshot:
                page.screenshot(args.screenshot)
    finally:
        server.stop()
    for failure in failures:
        print("FAIL:", failure)
    print(f"serve_browser_test: {'FAILED' if failures else 'passed'} in {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
