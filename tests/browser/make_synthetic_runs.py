#!/usr/bin/python3
"""Writes run folders as `lumos explain` leaves them, with made-up numbers and small pictures, so
that the report of a large run can be tested without explaining a thousand images.

    /usr/bin/python3 tests/browser/make_synthetic_runs.py OUT [--images 1000] [--shards 2]

OUT/shard_K/ holds run.json and one folder per image (explanation.json, input.png, a picture per
method, LIME's mask and heatmap, thumbnails). The images are dealt to the shards in turn, as
`lumos explain --shard K/N` would; shard 1 also explains the first image of shard 0 again with the
same settings (the report shows it once) and a few with another CAM layer (shown as well); some
images fail; a few folders lack their thumbnails (the report makes them). OUT/expected.json says
what the report must show.
"""
import argparse
import json
import os

import cv2
import numpy as np

LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
METHODS = ["gradcam", "gradcam++", "lime"]


def safe(text):
    return "".join(c if c.isalnum() or c in "-.+" else "_" for c in text)


def picture(rng, width, height, hue):
    yy, xx = np.mgrid[0:height, 0:width]
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.15 * width) ** 2))
    hsv = np.stack([np.full_like(blob, hue), np.full_like(blob, 200), 60 + 190 * blob], -1).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def thumbnail(image):
    h, w = image.shape[:2]
    scale = min(1.0, 256 / max(h, w))
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


WIDTH, HEIGHT = 96, 72


class Pictures:
    """A few pictures of each kind, encoded once (writing bytes is what makes 1000 folders quick)."""

    def __init__(self, rng):
        def encoded(image):
            return cv2.imencode(".png", image)[1].tobytes(), cv2.imencode(".jpg", thumbnail(image))[1].tobytes()

        self.kinds = {hue: [encoded(picture(rng, WIDTH, HEIGHT, hue)) for _ in range(8)] for hue in (20, 60, 100, 120)}
        self.mask = cv2.imencode(".png", np.zeros((HEIGHT, WIDTH), np.uint8))[1].tobytes()

    def pick(self, rng, hue):
        return self.kinds[hue][int(rng.integers(0, 8))]


def write_image(folder, name, rng, pictures, layer, thumbnails):
    os.makedirs(folder, exist_ok=True)
    width, height = WIDTH, HEIGHT
    probabilities = rng.dirichlet(np.full(len(LABELS), 0.3))
    order = list(np.argsort(-probabilities))
    targets = [order[0]] + ([order[1]] if rng.random() < 0.1 else [])  # some images explain their top 2
    box = [int(rng.integers(0, 40)), int(rng.integers(0, 30))]
    box += [box[0] + int(rng.integers(10, 50)), box[1] + int(rng.integers(10, 40))]

    def write(file, data):
        with open(os.path.join(folder, file), "wb") as f:
            f.write(data)

    def save(file, hue):
        png, jpeg = pictures.pick(rng, hue)
        write(file, png)
        if thumbnails:
            write(file[:-4] + ".thumb.jpg", jpeg)

    save("input.png", 20)
    record = {
        "image": name, "size": [width, height], "thumbnail": "input.thumb.jpg", "model": "models/fashion.onnx",
        "scores": "logits (the model's output)", "preprocess": "unit", "boxes": [box],
        "settings": {"methods": ",".join(METHODS), "target": "top1", "CAM layer": layer},
        "predictions": [{"class": int(c), "label": LABELS[c], "probability": float(probabilities[c]),
                         "score": float(np.log(probabilities[c] + 1e-12))} for c in order[:5]],
        "targets": [],
    }
    for c in targets:
        label = safe(LABELS[c])
        methods = []
        for method in METHODS:
            stem = method + "_" + label
            save(stem + ".png", 120 if method == "lime" else 100)
            entry = {"method": method, "file": stem + ".png", "thumbnail": stem + ".thumb.jpg",
                     "time_ms": float(rng.uniform(5, 50))}
            if method == "lime":
                write(stem + "_mask.png", pictures.mask)
                write(stem + "_heatmap.png", pictures.pick(rng, 60)[0])
                weights = sorted(rng.normal(0, 1, 20), key=lambda w: -abs(w))
                entry.update({"mask": stem + "_mask.png", "heatmap": stem + "_heatmap.png", "segments": 20,
                              "samples": 1000, "intercept": float(rng.normal()), "r2": float(rng.uniform(0, 1)),
                              "local_prediction": float(rng.normal()),
                              "timings_ms": {"segmentation": 3.0, "images": 2.0, "model": 40.0, "regression": 1.0},
                              "weights": [{"segment": i, "weight": float(w)} for i, w in enumerate(weights)]})
            else:
                entry.update({"empty": False, "energy_in_box": float(rng.uniform(0, 1))})
            methods.append(entry)
        record["targets"].append({"class": int(c), "label": LABELS[c], "probability": float(probabilities[c]),
                                  "score": float(np.log(probabilities[c] + 1e-12)), "methods": methods})
    with open(os.path.join(folder, "explanation.json"), "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    return record


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    pictures = Pictures(rng)
    runs = [[] for _ in range(args.shards)]
    expected = []  # what the report shows, in its order: shard by shard
    records = {}
    for i in range(args.images):
        runs[i % args.shards].append("data/img_%04d.png" % i)
    for k, names in enumerate(runs):
        run = os.path.join(args.out, "shard_%d" % k)
        entries, shown = [], []
        extra = []
        if k == 1:  # the first image of shard 0 again, the same way, and three with another layer
            extra = [(runs[0][0], "last_block", "again"), ] + [(n, "block_3", "block3_%d" % j)
                                                              for j, n in enumerate(runs[0][1:4])]
        for j, name in enumerate(names):
            folder = os.path.splitext(os.path.basename(name))[0]
            if j % 97 == 5:
                entries.append({"image": name, "error": "cannot read '%s': not a picture" % name})
                shown.append({"image": name, "error": True})
                continue
            records[name] = write_image(os.path.join(run, folder), name, rng, pictures, "last_block",
                                        thumbnails=j % 50 != 3)
            entries.append({"image": name, "folder": folder})
            shown.append({"image": name, "record": records[name]})
        for name, layer, folder in extra:
            if layer == "last_block":
                # The same explanation as shard 0's: same settings (the numbers need not be redrawn).
                os.makedirs(os.path.join(run, folder), exist_ok=True)
                src = os.path.join(args.out, "shard_0", os.path.splitext(os.path.basename(name))[0])
                for file in os.listdir(src):
                    with open(os.path.join(src, file), "rb") as a, open(os.path.join(run, folder, file), "wb") as b:
                        b.write(a.read())
            else:
                shown.append({"image": name, "record": write_image(os.path.join(run, folder), name, rng, pictures, layer, True)})
            entries.append({"image": name, "folder": folder})
        with open(os.path.join(run, "run.json"), "w") as f:
            json.dump({"images": entries}, f, indent=2)
        expected += shown
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
