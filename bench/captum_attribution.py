"""captum's side of bench/run_attribution_bench.sh: the same model (built as
tests/fixtures/make_torchvision_models.py builds the ONNX that lumos runs), the same image and
options as bench/attribution_bench.cpp, timed the same way. Needs captum on PYTHONPATH (see
tests/fixtures/check_attribution_against_captum.py for the checkout).

Usage: PYTHONPATH=/tmp/captum /usr/bin/python3 bench/captum_attribution.py [--threads N] [--batch N] [--steps N]
       [--samples N] [--shap-samples N] [--window N] [--stride N] [--methods LIST] --segments FILE.npy MODEL
Prints "<name> <milliseconds>" per method, as attribution_bench does.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
import make_torchvision_models as fixtures  # noqa: E402

from captum.attr import IntegratedGradients, KernelShap, NoiseTunnel, Occlusion, Saliency  # noqa: E402


def elapsed_ms(f):
    start = time.perf_counter()
    f()
    return (time.perf_counter() - start) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--shap-samples", type=int, default=1000)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--stride", type=int, default=8)
    parser.add_argument("--methods", default="forward,saliency,ig,smoothgrad,occlusion,kernelshap")
    parser.add_argument("--segments", required=True)
    parser.add_argument("model", choices=sorted(fixtures.MODELS))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    _, size, _, kwargs = fixtures.MODELS[args.model]
    model = fixtures.build(args.model, kwargs, size)
    image = torch.from_numpy(fixtures.input_batch(size)[:1])
    with torch.no_grad():
        target = int(model(image).argmax())
    mask = torch.from_numpy(np.load(args.segments)).long()[None, None]
    stdev = 0.15 * float(image.max() - image.min())  # lumos's default noise level
    warm = image.expand(args.batch, -1, -1, -1).clone().requires_grad_(True)
    torch.autograd.grad(model(warm)[:, target].sum(), warm)

    def forward():
        with torch.inference_mode():
            model(image)

    jobs = {
        "saliency": lambda: Saliency(model).attribute(image, target=target, abs=False),
        "ig": lambda: IntegratedGradients(model).attribute(image, target=target, n_steps=args.steps,
                                                           internal_batch_size=args.batch,
                                                           return_convergence_delta=True),
        "smoothgrad": lambda: NoiseTunnel(Saliency(model)).attribute(image, target=target, abs=False,
                                                                     nt_type="smoothgrad", nt_samples=args.samples,
                                                                     nt_samples_batch_size=args.batch, stdevs=stdev),
        "occlusion": lambda: Occlusion(model).attribute(image, target=target,
                                                        sliding_window_shapes=(3, args.window, args.window),
                                                        strides=(3, args.stride, args.stride),
                                                        perturbations_per_eval=args.batch),
        "kernelshap": lambda: KernelShap(model).attribute(image, target=target, feature_mask=mask,
                                                          n_samples=args.shap_samples,
                                                          perturbations_per_eval=args.batch),
    }
    for method in args.methods.split(","):
        if method == "forward":
            ms = sorted(elapsed_ms(forward) for _ in range(5))[2]
        else:
            ms = elapsed_ms(jobs[method])
        print(method, f"{ms:.3f}", flush=True)


if __name__ == "__main__":
    main()
