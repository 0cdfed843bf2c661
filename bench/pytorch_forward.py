"""PyTorch eager forward time per image of a torchvision classifier: the baseline for forward_bench.

Usage: /usr/bin/python3 bench/pytorch_forward.py [--threads N] [--runs N] [--warmup N]
                                                 [--mode eager|channels_last|optimized] MODEL BATCH...
Builds MODEL exactly as tests/fixtures/make_torchvision_models.py does for the ONNX that lumos
runs (same seed and weights), and prints one line per batch size:
"<batch> <ms per image of each timed run...>".
--mode: eager NCHW (default); eager with model and input in channels_last memory; or
torch.jit.optimize_for_inference of the scripted model (frozen, BatchNorms folded, oneDNN
weights pre-packed where it pays).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
import make_torchvision_models as fixtures  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--mode", choices=["eager", "channels_last", "optimized"], default="eager")
    parser.add_argument("model", choices=sorted(fixtures.MODELS))
    parser.add_argument("batches", type=int, nargs="+")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    _, size, _, kwargs = fixtures.MODELS[args.model]
    model = fixtures.build(args.model, kwargs, size)
    memory_format = torch.channels_last if args.mode == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    if args.mode == "optimized":
        model = torch.jit.optimize_for_inference(torch.jit.script(model))
    for batch in args.batches:
        torch.manual_seed(0)
        x = torch.randn(batch, 3, size, size).contiguous(memory_format=memory_format)
        ms_per_image = []
        with torch.inference_mode():
            for run in range(args.warmup + args.runs):
                start = time.perf_counter()
                model(x)
                elapsed = (time.perf_counter() - start) * 1000
                if run >= args.warmup:
                    ms_per_image.append(elapsed / batch)
        print(batch, " ".join(f"{ms:.3f}" for ms in ms_per_image), flush=True)


if __name__ == "__main__":
    main()
