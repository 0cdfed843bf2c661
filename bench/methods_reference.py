"""One reference run of a perturbation method on Debian's PyTorch, for bench/run_methods_bench.sh.

    /usr/bin/python3 bench/methods_reference.py --refs DIR --method scorecam|ablationcam|lime MODEL
        [--fixtures build/fixtures] [--threads 2] [--lime-samples 1000] [--lime-batch 10]

DIR holds the fetched reference sources, as bench/python_bench.py describes (DIR/pytorch-grad-cam,
DIR/ttach, DIR/lime). MODEL is a torchvision fixture (resnet18, resnet50, mobilenet_v2): the very
PyTorch model behind build/fixtures/torchvision/MODEL.onnx, built as
tests/fixtures/make_torchvision_models.py builds it.

- scorecam / ablationcam: pytorch-grad-cam's ScoreCAM / AblationCAM with their default batch
  sizes (16 / 32) on the fixture's first input (MODEL.input.npy), the block the fixture names
  (its output is lumos's default layer), the image's top class.
- lime: lime's LimeImageExplainer on build/fixtures/quickshift/chelsea.png (224 x 224, the image
  bench/lime_bench.cpp explains), top_labels=5, hide_color=0, lime's batch_size 10, its
  classifier_fn the softmax of the PyTorch model on a batch (python_bench.softmax_classifier).

One forward of a batch of the method's size warms the model up; then one timed run. Prints
"METHOD SECONDS_PER_IMAGE".
"""
import argparse
import functools
import os
import sys
import time

import numpy as np
import torch
import tqdm
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import python_bench  # noqa: E402  (the PyTorch models and lime's classifier_fn)


def cam_run(args, model, module):
    from pytorch_grad_cam import AblationCAM, ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    x = torch.from_numpy(np.load(os.path.join(args.fixtures, "torchvision", args.model + ".input.npy"))[:1])
    with torch.no_grad():
        cls = int(model(x).argmax())
    method = ScoreCAM if args.method == "scorecam" else AblationCAM
    cam = method(model=model, target_layers=[model.get_submodule(module)])
    batch = getattr(cam, "batch_size", 16)  # ScoreCAM's BATCH_SIZE when it has no batch_size
    with torch.no_grad():
        model(x.expand(batch, -1, -1, -1).contiguous())
    return lambda: cam(input_tensor=x, targets=[ClassifierOutputTarget(cls)])


def lime_run(args, model):
    from lime import lime_image

    image = np.asarray(Image.open(os.path.join(args.fixtures, "quickshift", "chelsea.png")).convert("RGB"))
    classifier_fn = python_bench.softmax_classifier(model)
    classifier_fn(np.repeat(image[None], args.lime_batch, axis=0))
    return lambda: lime_image.LimeImageExplainer(random_state=0).explain_instance(
        image, classifier_fn, top_labels=5, hide_color=0, num_samples=args.lime_samples,
        batch_size=args.lime_batch, random_seed=0, progress_bar=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refs", required=True, help="folder with pytorch-grad-cam/, ttach/ and lime/ sources")
    parser.add_argument("--method", required=True, choices=["scorecam", "ablationcam", "lime"])
    parser.add_argument("--fixtures", default=os.path.join(HERE, "..", "build", "fixtures"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lime-samples", type=int, default=1000)
    parser.add_argument("--lime-batch", type=int, default=10)
    parser.add_argument("model")
    args = parser.parse_args()
    for package in ("pytorch-grad-cam", "ttach", "lime"):
        sys.path.insert(0, os.path.join(args.refs, package))
    # pytorch-grad-cam draws a tqdm bar per image; silence it (it costs nothing measurable).
    tqdm.tqdm = functools.partial(tqdm.tqdm, disable=True)
    torch.set_num_threads(args.threads)
    model, module = python_bench.torch_model(args.model)
    run = lime_run(args, model) if args.method == "lime" else cam_run(args, model, module)
    start = time.perf_counter()
    run()
    print(f"{args.method} {time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
