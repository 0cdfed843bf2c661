"""Cluttered Fashion-MNIST: a localisation benchmark with known boxes, and a small CNN for it.

Built like cluttered MNIST (Mnih et al. 2014, Ba et al. 2015): each 28x28 Fashion-MNIST
item is placed at a random position on a larger black canvas, among 8x8 fragments cut from
other items. Fragments never overlap the item's 28x28 placement, so everything inside the
item's box is the item. The box is the tight box of the item's non-zero pixels, in canvas
pixels, half-open: x0 <= x < x1, y0 <= y < y1.

The model is conv blocks -> global average pooling -> one linear layer, so class activation
maps are meaningful (the last conv block is the default CAM layer). Input: [N, 1, 96, 96],
pixels / 255 (lumos preset "unit"); output: logits for the 10 classes. The ONNX file carries
the class names ("labels") and the preset ("preprocess") as metadata.

Steps, each skipped when its output exists (the script is idempotent):
  1. OUTDIR/test/NNNNN.png + OUTDIR/test/boxes.csv (image,class,x0,y0,x1,y1) + OUTDIR/labels.txt
  2. train the CNN on train splits (generated in memory from the seed, a fresh one each epoch;
     never written)
     -> OUTDIR/model.onnx and OUTDIR/model.json (test accuracy, settings)
  3. OUTDIR/model_random_top.onnx: the same model with the last conv block and the head
     re-initialised (Adebayo et al. 2018, cascading randomisation of the top layers)

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). Train items come
from the train set, test items (and their clutter) from the t10k set.

Usage: /usr/bin/python3 tools/cluttered_fashion_mnist.py OUTDIR [--train N] [--test N] [--epochs N]
"""
import argparse
import csv
import gzip
import json
import os
import sys
import time

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CANVAS = 96
ITEM = 28
FRAGMENT = 8
FRAGMENTS_PER_IMAGE = 8
SEED = 20181101
OPSET = 13


def read_idx(name):
    path = os.path.join(DATA_DIR, name)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: apt-get install dataset-fashion-mnist")
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(prefix):
    return read_idx(f"{prefix}-images-idx3-ubyte.gz"), read_idx(f"{prefix}-labels-idx1-ubyte.gz")


def overlaps(x, y, size, box):
    bx, by, bsize = box
    return x < bx + bsize and bx < x + size and y < by + bsize and by < y + size


def make_cluttered(items, labels, count, rng):
    """count canvases: uint8 [count, CANVAS, CANVAS], classes [count], boxes [count, 4]."""
    canvases = np.zeros((count, CANVAS, CANVAS), dtype=np.uint8)
    classes = np.zeros(count, dtype=np.int64)
    boxes = np.zeros((count, 4), dtype=np.int64)
    chosen = rng.choice(len(items), size=count, replace=False)
    for n, index in enumerate(chosen):
        item = items[index]
        x, y = rng.integers(0, CANVAS - ITEM + 1, size=2)
        canvas = canvases[n]
        placed = 0
        while placed < FRAGMENTS_PER_IMAGE:
            source = rng.integers(0, len(items))
            fx, fy = rng.integers(0, ITEM - FRAGMENT + 1, size=2)
            cx, cy = rng.integers(0, CANVAS - FRAGMENT + 1, size=2)
            if source == index or overlaps(cx, cy, FRAGMENT, (x, y, ITEM)):
                continue
            fragment = items[source, fy:fy + FRAGMENT, fx:fx + FRAGMENT]
            region = canvas[cy:cy + FRAGMENT, cx:cx + FRAGMENT]
            np.maximum(region, fragment, out=region)
            placed += 1
        canvas[y:y + ITEM, x:x + ITEM] = item
        rows = np.flatnonzero(item.any(axis=1))
        cols = np.flatnonzero(item.any(axis=0))
        boxes[n] = (x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1)
        classes[n] = labels[index]
    return canvases, classes, boxes


def write_test_split(out, count):
    test_dir = os.path.join(out, "test")
    boxes_path = os.path.join(test_dir, "boxes.csv")
    if os.path.exists(boxes_path):
        print(f"test split: {boxes_path} exists, skipped")
        return
    import cv2
    os.makedirs(test_dir, exist_ok=True)
    items, labels = load_split("t10k")
    canvases, classes, boxes = make_cluttered(items, labels, count, np.random.default_rng(SEED + 1))
    rows = []
    for n in range(count):
        name = f"{n:05d}.png"
        cv2.imwrite(os.path.join(test_dir, name), canvases[n])
        rows.append([name, int(classes[n]), *map(int, boxes[n])])
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    tmp = boxes_path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["image", "class", "x0", "y0", "x1", "y1"])
        writer.writerows(rows)
    os.replace(tmp, boxes_path)  # last: its presence means the split is complete
    print(f"test split: {count} images in {test_dir}")


def build_model():
    import torch.nn as nn

    def block(cin, cout, pool, kernel=3, stride=1):
        layers = [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2), nn.BatchNorm2d(cout), nn.ReLU()]
        return layers + ([nn.MaxPool2d(2)] if pool else [])

    class GapNet(nn.Module):
        def __init__(self):
            super().__init__()
            # 96 -> 48 (stride) -> 24 -> 12 (pools); the last block (12x12) is the CAM layer.
            self.features = nn.Sequential(*block(1, 16, True, kernel=5, stride=2), *block(16, 32, True),
                                          *block(32, 64, False))
            self.last_block = nn.Sequential(*block(64, 64, False))
            self.head = nn.Linear(64, len(CLASSES))

        def forward(self, x):
            x = self.last_block(self.features(x))
            return self.head(x.mean(dim=(2, 3)))

    return GapNet()


def to_input(torch, canvases):
    return torch.from_numpy(canvases).float().div_(255).unsqueeze(1)


def accuracy(torch, model, canvases, classes, batch=250):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(canvases), batch):
            logits = model(to_input(torch, canvases[start:start + batch]))
            correct += int((logits.argmax(1).numpy() == classes[start:start + batch]).sum())
    return correct / len(canvases)


def read_test_split(out):
    import cv2
    test_dir = os.path.join(out, "test")
    with open(os.path.join(test_dir, "boxes.csv")) as f:
        rows = list(csv.DictReader(f))
    canvases = np.stack([cv2.imread(os.path.join(test_dir, r["image"]), cv2.IMREAD_GRAYSCALE) for r in rows])
    return canvases, np.array([int(r["class"]) for r in rows])


def export(torch, model, path):
    import onnx
    model.eval()
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.zeros(1, 1, CANVAS, CANVAS), tmp, opset_version=OPSET,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    proto = onnx.load(tmp)
    for key, value in (("labels", ",".join(CLASSES)), ("preprocess", "unit")):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, tmp)
    os.replace(tmp, path)


def train(out, count, epochs):
    model_path = os.path.join(out, "model.onnx")
    if os.path.exists(model_path):
        print(f"model: {model_path} exists, skipped")
        return
    import torch
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    started = time.time()
    items, labels = load_split("train")
    clutter_rng = np.random.default_rng(SEED)
    test_canvases, test_classes = read_test_split(out)
    model = build_model()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = 128
    steps = epochs * ((count + batch - 1) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
    order_rng = np.random.default_rng(SEED + 2)
    for epoch in range(epochs):
        # Fresh items, positions and clutter every epoch: more variety for the same compute.
        canvases, classes, _ = make_cluttered(items, labels, count, clutter_rng)
        targets = torch.from_numpy(classes)
        model.train()
        order = order_rng.permutation(count)
        total = 0.0
        for start in range(0, count, batch):
            index = order[start:start + batch]
            loss = torch.nn.functional.cross_entropy(model(to_input(torch, canvases[index])), targets[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss) * len(index)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / count:.4f} ({time.time() - started:.0f} s)", flush=True)
    test_accuracy = accuracy(torch, model, test_canvases, test_classes)
    print(f"test accuracy: {test_accuracy:.4f} on {len(test_classes)} images")
    torch.save(model.state_dict(), os.path.join(out, "model.pt"))
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump({"test_accuracy": test_accuracy, "test_images": int(len(test_classes)), "train_images": count,
                   "epochs": epochs, "seed": SEED, "canvas": CANVAS, "opset": OPSET,
                   "train_seconds": round(time.time() - started, 1)}, f, indent=2)
    export(torch, model, model_path)


def randomize_top(out):
    path = os.path.join(out, "model_random_top.onnx")
    if os.path.exists(path):
        print(f"randomised model: {path} exists, skipped")
        return
    import torch
    torch.set_num_threads(2)
    model = build_model()
    model.load_state_dict(torch.load(os.path.join(out, "model.pt")))
    torch.manual_seed(SEED + 3)
    for module in list(model.last_block.modules()) + [model.head]:
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        if hasattr(module, "reset_running_stats"):
            module.reset_running_stats()
    export(torch, model, path)
    print(f"randomised model: {path} (last conv block and head re-initialised)")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="output directory")
    parser.add_argument("--train", type=int, default=20000, help="training images per epoch (default 20000)")
    parser.add_argument("--test", type=int, default=1000, help="test images (default 1000)")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    write_test_split(args.out, args.test)
    train(args.out, args.train, args.epochs)
    randomize_top(args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
