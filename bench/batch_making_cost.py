"""What making one batch of perturbed inputs costs beside scoring it, for the batched methods
whose batches lumos makes with ATen ops (issue 15, item 4: worth overlapping with the forwards?).

    /usr/bin/python3 bench/batch_making_cost.py [--threads 2] [--batch 32] [--repeats 5] [MODEL ...]

Each maker repeats, op for op, what lumos's code does for one batch at the default batch size
(MetricOptions / PerturbationOptions: 32) on a 224 x 224 image, in PyTorch 1.13 (the LibTorch
lumos links): deletion/insertion (src/metrics/causal.cpp), confidence (confidence.cpp), RISE
(src/perturbation/rise.cpp: 7 x 7 cells upsampled by two matrix products per mask), occlusion
(occlusion.cpp: one window copy per input) and KernelSHAP (kernel_shap.cpp: a segment lookup per
coalition, then where). The forward is the torchvision model's on the same batch (lumos's
forward is within about ±30 % of it, docs/performance.md). LIME's batches are timed by
build/bench/lime_bench (its last table). Prints the best of --repeats per step, ms per batch,
and making / (making + forward).
"""
import argparse
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import python_bench  # noqa: E402


def best_ms(call, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, (time.perf_counter() - start) * 1000)
    return best


def makers(batch, size=224, steps=224, cells=7, segments=40):
    torch.manual_seed(0)
    image = torch.randn(1, 3, size, size)
    images = image.expand(4, -1, -1, -1).contiguous()  # a metric's batch of explained images
    pixels = size * size
    per_step = (pixels + steps - 1) // steps
    points = pixels // per_step + 1
    order = torch.sort(torch.rand(4, pixels), stable=True, dim=1, descending=True)[1]
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(pixels).expand(4, pixels)).view(4, 1, size, size)
    finish = torch.zeros_like(images)

    def causal():
        job = torch.arange(0, batch)
        which = torch.div(job, points, rounding_mode="floor")
        moved = torch.remainder(job, points) * per_step
        replaced = rank.index_select(0, which) < moved.view(-1, 1, 1, 1)
        return torch.where(replaced, finish.index_select(0, which), images.index_select(0, which))

    explained = images * torch.rand(4, 1, size, size)

    def confidence():
        job = torch.arange(0, batch)
        n = images.size(0)
        return torch.where((job < n).view(-1, 1, 1, 1), images.index_select(0, job.remainder(n)),
                           explained.index_select(0, job.remainder(n)))

    grid = (torch.rand(batch, cells, cells) < 0.5).double()
    rows = torch.rand(size, cells, dtype=torch.float64)  # the interpolation matrices' shape
    columns = torch.rand(size, cells, dtype=torch.float64)

    def rise():
        out = torch.empty(batch, size, size)
        for i in range(batch):
            out[i].copy_(rows @ grid[i] @ columns.t())
        return image * out.unsqueeze(1)

    def occlusion():
        out = image.repeat(batch, 1, 1, 1)
        for k in range(batch):
            top, left = (k * 8) % (size - 16), (k * 8) % (size - 16)
            out[k, :, top:top + 16, left:left + 16].copy_(finish[0, :, top:top + 16, left:left + 16])
        return out

    labels = torch.randint(0, segments, (size, size))
    kept = [(torch.rand(segments) < 0.5).to(torch.uint8) for _ in range(batch)]

    def kernel_shap():
        present = [k.to(torch.bool)[labels] for k in kept]
        return torch.where(torch.stack(present).unsqueeze(1), image, finish[:1])

    return {"deletion/insertion": causal, "confidence": confidence, "RISE": rise, "occlusion": occlusion,
            "KernelSHAP": kernel_shap}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("models", nargs="*", default=["mobilenet_v2", "resnet18"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, batch {args.batch}, best of {args.repeats}; "
          f"load average before: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    making = {name: best_ms(make, args.repeats) for name, make in makers(args.batch).items()}
    x = torch.randn(args.batch, 3, 224, 224)
    print("\n| method | making ms | " + " | ".join(f"{m}: forward ms, making share" for m in args.models) + " |")
    print("| --- | ---: |" + " ---: |" * len(args.models))
    forwards = {}
    for name in args.models:
        model, _ = python_bench.torch_model(name)
        with torch.no_grad():
            model(x)
            forwards[name] = best_ms(lambda: model(x), max(2, args.repeats // 2))
    for method, ms in making.items():
        cells = " | ".join(f"{forwards[m]:.0f}, {100 * ms / (ms + forwards[m]):.1f} %" for m in args.models)
        print(f"| {method} | {ms:.1f} | {cells} |")
    print(f"\nload average after: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
