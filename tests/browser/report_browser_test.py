#!/usr/bin/python3
"""The report in a real browser (headless Chromium over the DevTools protocol, tests/browser/chromium.py).

1. A made-up 1000-image run in two shards (make_synthetic_runs.py), merged by `lumos report`:
   report.html stays small, the page and the pictures in view load in under 2 s, sorting,
   filtering, paging, the keyboard and the detail view change the page as they should.
2. A real `lumos explain` of cluttered Fashion-MNIST images with their boxes: every thumbnail and
   every picture of a detail view loads (the relative paths work).

    /usr/bin/python3 tests/browser/report_browser_test.py --lumos build/lumos --work build/browser_test \\
        --fixtures build/fixtures [--screenshots docs/images]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chromium import Chromium  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
COUNT = 24  # images of the real run: more than 20, so its report links the pictures
failures = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        failures.append(what)


def run(command, **kwargs):
    start = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.monotonic() - start


def open_report(page, path):
    """Opens the report; returns seconds until the load event and until every picture in view has loaded."""
    load = page.open("file://" + os.path.abspath(path))
    pictures = page.evaluate("""new Promise(done => {
      const start = performance.now();
      const wait = () => {
        const inView = [...document.images].filter(i => i.getBoundingClientRect().top < innerHeight);
        if (inView.every(i => i.complete)) done([performance.now(), inView.length,
                                                 inView.filter(i => i.naturalWidth > 0).length]);
        else requestAnimationFrame(wait);
      };
      wait();
    })""")
    navigation = page.evaluate("performance.getEntriesByType('navigation')[0].startTime")
    return load, (pictures[0] - navigation) / 1000, pictures[1], pictures[2]


def cards(page):
    return page.evaluate("[...document.querySelectorAll('#grid .card')].map(c => "
                         "[c.querySelector('.name').textContent, (c.querySelector('.predicted') || {}).textContent])")


def synthetic(args, browser):
    out = os.path.join(args.work, "synthetic")
    shutil.rmtree(out, ignore_errors=True)
    made = run(["/usr/bin/python3", os.path.join(HERE, "make_synthetic_runs.py"), out, "--images", "1000"])
    report = os.path.join(out, "report")
    took = run([args.lumos, "report", os.path.join(out, "shard_0"), os.path.join(out, "shard_1"), "-o", report])
    expected = json.load(open(os.path.join(out, "expected.json")))
    html_size = os.path.getsize(os.path.join(report, "report.html"))
    data_size = os.path.getsize(os.path.join(report, "report_data.js"))
    print("synthetic runs made in %.1f s; lumos report took %.2f s; report.html %d bytes, report_data.js %d bytes"
          % (made, took, html_size, data_size))
    check(html_size < 2_000_000, "report.html of 1000 images is under 2 MB (%d bytes)" % html_size)

    page = browser.new_page(1280, 900)
    load, pictures, in_view, loaded = open_report(page, os.path.join(report, "report.html"))
    print("load event after %.3f s; the %d pictures in view loaded after %.3f s" % (load, in_view, pictures))
    check(max(load, pictures) < 2.0, "the page and the pictures in view load in under 2 s (%.2f s)" % max(load, pictures))
    check(in_view > 0 and loaded == in_view, "every picture in view loaded (%d of %d)" % (loaded, in_view))
    check(page.exceptions() == [], "no script error: %s" % page.exceptions())

    # Entries: one per image and target; the failures are entries too.
    entries = []
    for e in expected:
        if e.get("error"):
            entries.append({"image": e["image"], "top": None, "target": None})
        else:
            top = e["record"]["predictions"][0]
            for t in e["record"]["targets"]:
                r2 = [m for m in t["methods"] if m["method"] == "lime"][0]["r2"]
                entries.append({"image": e["image"], "top": top, "target": t, "r2": r2})
    total = len(entries)
    summary = page.evaluate("document.getElementById('page').textContent")
    check(summary.endswith("of %d" % total), "the pager counts %d entries: %r" % (total, summary))
    check(len(cards(page)) == 48, "a page shows 48 cards")
    first = [e["image"] for e in entries[:48]]
    check([c[0] for c in cards(page)] == first, "unsorted, the cards come in the runs' order")

    # Sort by the top probability, lowest first (the default direction for it).
    page.select("#sort", "probability")
    # The page sorts by the numbers it holds, 4 significant digits; ties keep the runs' order.
    by_probability = sorted([e for e in entries if e["top"]], key=lambda e: float("%.4g" % e["top"]["probability"]))
    shown = [c[0] for c in cards(page)]
    check(shown[:10] == [e["image"] for e in by_probability[:10]], "sorted by probability, the doubtful come first")
    page.click("#direction")
    shown = [c[0] for c in cards(page)]
    highest = max(e["top"]["probability"] for e in by_probability)
    check(shown[0] in [e["image"] for e in by_probability if e["top"]["probability"] == highest],
          "the direction button puts the most certain first")

    # Sort by LIME's R², which the made-up run has.
    page.select("#sort", "lime:r2")
    by_r2 = sorted([e for e in entries if e["top"]], key=lambda e: -float("%.4g" % e["r2"]))
    shown = [c[0] for c in cards(page)]
    check(shown[:5] == [e["image"] for e in by_r2[:5]], "sorted by LIME R², highest first: %s" % shown[:5])

    # Filter by the predicted class.
    page.select("#predicted", "Bag")
    bags = [e for e in entries if e["top"] and e["top"]["label"] == "Bag"]
    summary = page.evaluate("document.getElementById('page').textContent")
    check(summary.endswith("of %d" % len(bags)), "filtering by class Bag leaves %d: %r" % (len(bags), summary))
    check(all(c[1] == "Bag" for c in cards(page)), "every card shown predicts Bag")
    page.select("#predicted", "")

    # The keyboard: / focuses the filter; typing filters; Esc goes to the cards; Enter opens one.
    page.click("body")
    page.press("/")
    check(page.evaluate("document.activeElement.id") == "filter", "/ focuses the filter")
    page.type("img_0042")
    shown = cards(page)
    check([c[0] for c in shown] == ["data/img_0042.png"], "typing img_0042 leaves that image: %s" % shown)
    page.press("Escape")
    check(page.evaluate("document.activeElement.classList.contains('card')"), "Esc moves to the first card")
    page.press("Enter")
    check(page.evaluate("document.getElementById('detail').open"), "Enter opens the detail view")
    record = [e for e in expected if e["image"] == "data/img_0042.png"][0]["record"]
    detail = page.evaluate("""(() => {
      const body = document.getElementById('detail-body');
      return {title: document.getElementById('detail-title').textContent,
              figures: body.querySelectorAll('figure').length,
              predictions: [...body.querySelectorAll('section')].find(s => s.querySelector('h3').textContent ===
                           'Top predictions').querySelectorAll('tbody tr').length,
              weights: [...body.querySelectorAll('section')].filter(s => /weights/.test(s.querySelector('h3')
                       .textContent)).map(s => s.querySelectorAll('tbody tr').length),
              boxes: body.querySelectorAll('.box').length,
              settings: body.textContent.includes('last_block')};
    })()""")
    targets = len(record["targets"])
    check(detail["title"].startswith("data/img_0042.png"), "the detail view names the image: %r" % detail["title"])
    check(detail["figures"] == 1 + 3 + 2, "input, three methods and LIME's mask and heatmap: %d" % detail["figures"])
    check(detail["predictions"] == 5, "five top predictions")
    check(detail["weights"] == [20], "LIME's 20 weights: %s" % detail["weights"])
    check(detail["boxes"] == 4, "the box over the input and each method's picture: %d" % detail["boxes"])
    check(detail["settings"], "the run's settings")
    page.press("Escape")
    check(not page.evaluate("document.getElementById('detail').open"), "Esc closes the detail view")
    check(targets >= 1, "the image has targets")

    # Arrows in the detail view walk the list; paging by key.
    page.evaluate("(() => { const f = document.getElementById('filter'); f.value = '';"
                  " f.dispatchEvent(new Event('input')); })()")
    page.select("#sort", "order")
    page.click("#grid .card")
    page.press("ArrowRight")
    title = page.evaluate("document.getElementById('detail-title').textContent")
    check(title.startswith(entries[1]["image"]), "→ in the detail view shows the next image: %r" % title)
    page.press("Escape")
    check(page.evaluate("document.activeElement.getAttribute('data-n')") == "1",
          "closing the detail view returns to the card last shown")
    page.press("n")
    summary = page.evaluate("document.getElementById('page').textContent")
    check(summary.startswith("page 2 of"), "n shows the next page: %r" % summary)
    check([c[0] for c in cards(page)] == [e["image"] for e in entries[48:96]], "page 2 holds entries 49-96")

    page.select("#status", "failed")
    failed = [e for e in expected if e.get("error")]
    check(len(cards(page)) == len(failed), "the failed filter shows the %d failures" % len(failed))
    page.select("#status", "")
    runs = page.evaluate("[...document.querySelectorAll('#run option')].length")
    check(runs == 3, "two runs to choose from, and all")
    check(page.exceptions() == [], "no script error: %s" % page.exceptions())
    return {"images": 1000, "html_bytes": html_size, "data_bytes": data_size, "load_s": load,
            "pictures_s": pictures, "report_s": took}


def real_run(args, browser):
    dataset = os.path.join(args.fixtures, "cluttered_fashion_mnist")
    out = os.path.join(args.work, "fashion")
    shutil.rmtree(out, ignore_errors=True)
    images = os.path.join(out, "images")
    os.makedirs(images)
    boxes = open(os.path.join(dataset, "test", "boxes.csv")).read().splitlines()
    with open(os.path.join(images, "boxes.csv"), "w") as f:  # the first 24 images: a linked report
        f.write("\n".join(boxes[:COUNT + 1]) + "\n")
    for line in boxes[1:COUNT + 1]:
        name = line.split(",")[0]
        shutil.copy(os.path.join(dataset, "test", name), images)
    # Relative paths, as a user types them: the report and the JSON must keep them so.
    took = run([args.lumos, "--threads", "2", "explain", "-m", os.path.relpath(os.path.join(dataset, "model.onnx"), out),
                "-i", "images", "--labels", os.path.relpath(os.path.join(dataset, "labels.txt"), out),
                "--boxes", "images/boxes.csv", "--method", "gradcam,gradcam++,lime", "--lime-samples", "40",
                "-o", "explained"], cwd=out)
    print("lumos explain of %d images took %.1f s" % (COUNT, took))
    record = json.load(open(os.path.join(out, "explained", "00000", "explanation.json")))
    check(record["image"] == "images/00000.png", "explanation.json names the image as given: %r" % record["image"])
    check(not os.path.isabs(record["model"]), "and the model: %r" % record["model"])
    check("energy_in_box" in record["targets"][0]["methods"][0], "--boxes gives energy_in_box")

    page = browser.new_page(1400, 1000)
    load, pictures, in_view, loaded = open_report(page, os.path.join(out, "explained", "report.html"))
    check(in_view > 0 and loaded == in_view, "every thumbnail in view of the real run loaded (%d of %d)"
          % (loaded, in_view))
    check(len(cards(page)) == COUNT, "a card per image")
    page.select("#sort", "gradcam:energy_in_box")
    page.click("#direction")  # lowest first: where Grad-CAM looked away from the object
    if args.screenshots:
        page.screenshot(os.path.join(args.screenshots, "report.png"))
    page.click("#grid .card")
    complete = page.evaluate("""new Promise(done => {
      const wait = () => {
        const pictures = [...document.querySelectorAll('#detail-body img')];
        if (pictures.every(i => i.complete)) done([pictures.length, pictures.filter(i => i.naturalWidth > 0).length]);
        else requestAnimationFrame(wait);
      };
      wait();
    })""")
    check(complete[0] == 6 and complete[1] == 6, "every full-size picture of a detail view loaded: %s" % complete)
    if args.screenshots:
        page.screenshot(os.path.join(args.screenshots, "report_detail.png"))
    check(page.exceptions() == [], "no script error: %s" % page.exceptions())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lumos", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--fixtures", required=True)
    parser.add_argument("--screenshots", help="save the README's pictures here")
    args = parser.parse_args()
    args.lumos = os.path.abspath(args.lumos)
    os.makedirs(args.work, exist_ok=True)
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    start = time.monotonic()
    with Chromium() as browser:
        figures = synthetic(args, browser)
        real_run(args, browser)
    figures["test_s"] = time.monotonic() - start
    print(json.dumps(figures))
    if failures:
        print("%d checks failed" % len(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
