"""Would gradient traces gain from channels-last memory? Times one forward + backward to the input
(weights frozen, as lumos's traces and captum's attributions run) of a torchvision model in
PyTorch 1.13, NCHW against channels_last, alternated in one process.

Usage: /usr/bin/python3 bench/channels_last_backward.py [--model resnet50] [--batch 10] [--rounds 3] [--threads 2]
"""
import argparse
import time

import torch
import torchvision


def frozen(name, memory_format):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval().to(memory_format=memory_format)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, 3, 224, 224)
    sides = {"nchw": (frozen(args.model, torch.contiguous_format), torch.contiguous_format),
             "channels_last": (frozen(args.model, torch.channels_last), torch.channels_last)}

    def trace(side):
        model, memory_format = sides[side]
        image = x.contiguous(memory_format=memory_format).requires_grad_(True)
        start = time.perf_counter()
        torch.autograd.grad(model(image)[:, 0].sum(), image)
        return (time.perf_counter() - start) * 1000

    for side in sides:
        trace(side)  # warm-up: oneDNN primitives, allocations
    for _ in range(args.rounds):
        times = {side: trace(side) for side in sides}
        print(f"{args.model} batch {args.batch}: NCHW {times['nchw']:.0f} ms, channels_last "
              f"{times['channels_last']:.0f} ms, ratio {times['channels_last'] / times['nchw']:.2f}", flush=True)


if __name__ == "__main__":
    main()
