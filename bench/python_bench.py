"""lumos from Python beside pytorch-grad-cam and lime, in one process, in interleaved rounds.

    /usr/bin/python3 bench/python_bench.py --refs DIR [--fixtures build/fixtures] [--threads 2]
        [--cam-rounds 11] [--lime-rounds 3] [--lime-samples 1000] [--lime-batch 10]

DIR holds the reference packages' sources, fetched and never committed: DIR/pytorch-grad-cam
(jacobgil/pytorch-grad-cam's pytorch_grad_cam/), DIR/ttach (qubvel/ttach's ttach/, which
pytorch-grad-cam imports) and DIR/lime (marcotcr/lime's lime/). The lumos package must be
installed (python/tests/run.sh installs it into build/python_test/venv; run this script with that
venv's python). docs/python.md gives the exact commands and the measured numbers.

Grad-CAM: resnet50 (torchvision, random weights, BatchNorm folded: the very model of
build/fixtures/torchvision/resnet50.onnx), one image, the block pytorch-grad-cam's docs target
(layer4[-1]), the image's top class. LIME: resnet18, chelsea at 224 x 224, top_labels=5,
hide_color=0, num_samples=1000, lime's batch_size 10, lime's classifier_fn a softmax over the
PyTorch model. lumos's LIME runs twice: with the lumos model as classifier (all native) and
with the same PyTorch classifier_fn as lime (lumos's segmentation and surrogates, PyTorch's
forwards).

Each round runs every side once, back to back, so that load from other processes hits them alike;
the tables give medians over rounds. "Python overhead" is lumos's wall time from Python minus the
time of the C++ call inside it (CamExplainer / explain_lime, measured by the binding), relative to
the C++ call.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import skimage.data
import skimage.transform
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
import make_torchvision_models as tv  # noqa: E402  (the builder of the ONNX exports' PyTorch models)

MEAN = np.float32([0.485, 0.456, 0.406])
STD = np.float32([0.229, 0.224, 0.225])


def torch_model(name):
    _, size, module, kwargs = tv.MODELS[name]
    return tv.build(name, kwargs, size), module


def chelsea(size=224):
    return np.uint8(np.clip(tv.square_resized(skimage.data.chelsea(), size) * 255 + 0.5, 0, 255))


def softmax_classifier(model):
    """lime's classifier_fn as users write it: uint8 RGB images [N, H, W, 3] to softmax scores."""

    def classifier_fn(images):
        batch = torch.from_numpy(((np.float32(images) / 255 - MEAN) / STD).transpose(0, 3, 1, 2).copy())
        with torch.no_grad():
            return torch.softmax(model(batch), dim=1).numpy()

    return classifier_fn


def timed(call):
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def median(values):
    return statistics.median(values)


def bench_gradcam(args, lumos, pgc):
    from pytorch_grad_cam import GradCAM as TorchGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, module = torch_model("resnet50")
    onnx_path = os.path.join(args.fixtures, "torchvision", "resnet50.onnx")
    manifest = lumos_manifest(args.fixtures)["resnet50"]
    x = np.load(os.path.join(args.fixtures, "torchvision", "resnet50.input.npy"))[:1]
    lumos_model = lumos.Model(onnx_path)
    cls = int(lumos_model.scores(x).argmax())
    torch_cam = TorchGradCAM(model=model, target_layers=[model.get_submodule(module)[-1]])
    lumos_cam = lumos.GradCAM(lumos_model, target_layers=[manifest["value_name"]])
    x_torch = torch.from_numpy(x)

    def torch_forward():
        with torch.no_grad():
            return model(x_torch)

    sides = {
        "pytorch forward": torch_forward,
        "pytorch-grad-cam GradCAM": lambda: torch_cam(input_tensor=x_torch, targets=[ClassifierOutputTarget(cls)]),
        "lumos forward (Model.scores)": lambda: lumos_model.scores(x),
        "lumos GradCAM": lambda: lumos_cam(input_tensor=x, targets=[cls]),
    }
    for call in sides.values():  # warm-up: kernels, layer shapes, allocator
        call()
    reference = sides["pytorch-grad-cam GradCAM"]()
    ours = sides["lumos GradCAM"]()
    times = {name: [] for name in sides}
    native = []
    for _ in range(args.cam_rounds):
        for name, call in sides.items():
            ms, _ = timed(call)
            times[name].append(ms)
            if name == "lumos GradCAM":
                native.append(lumos_cam.native_ms)
    overhead = [(wall - c) / c for wall, c in zip(times["lumos GradCAM"], native)]
    print(f"\n### Grad-CAM, resnet50, 1 image 224x224, class {cls}, {args.cam_rounds} rounds\n")
    print("| side | median ms | x its forward |")
    print("| --- | ---: | ---: |")
    for name in sides:
        forward = "pytorch forward" if name.startswith("pytorch") else "lumos forward (Model.scores)"
        print(f"| {name} | {median(times[name]):.1f} | {median(times[name]) / median(times[forward]):.2f} |")
    print(f"| lumos GradCAM: the C++ call inside | {median(native):.1f} | |")
    ratios = [t / p for t, p in zip(times["lumos GradCAM"], times["pytorch-grad-cam GradCAM"])]
    print(f"\nlumos GradCAM / pytorch-grad-cam per round: median {median(ratios):.2f}x "
          f"(rounds: {' '.join(f'{r:.2f}' for r in ratios)})")
    print(f"Python overhead over the C++ call: median {100 * median(overhead):.2f} %, "
          f"max {100 * max(overhead):.2f} % ({median(times['lumos GradCAM']) - median(native):.3f} ms)")
    print(f"maps: largest difference lumos vs pytorch-grad-cam {np.abs(ours - reference).max():.2e}")


def bench_lime(args, lumos):
    from lime import lime_image as reference_lime

    model, _ = torch_model("resnet18")
    lumos_model = lumos.Model(os.path.join(args.fixtures, "torchvision", "resnet18.onnx"))
    image = chelsea()

    torch_classifier = softmax_classifier(model)
    settings = dict(top_labels=5, hide_color=0, num_samples=args.lime_samples, batch_size=args.lime_batch,
                    random_seed=0)
    sides = {
        "lime (PyTorch classifier_fn)": lambda: reference_lime.LimeImageExplainer(random_state=0).explain_instance(
            image, torch_classifier, progress_bar=False, **settings),
        "lumos LIME (PyTorch classifier_fn)": lambda: lumos.lime.LimeImageExplainer().explain_instance(
            image, torch_classifier, progress_bar=False, **settings),
        "lumos LIME (lumos Model)": lambda: lumos.lime.LimeImageExplainer().explain_instance(
            image, lumos_model, progress_bar=False, **settings),
    }
    times = {name: [] for name in sides}
    native, splits, results = [], [], {}
    for _ in range(args.lime_rounds):
        for name, call in sides.items():
            ms, results[name] = timed(call)
            times[name].append(ms)
            if name.startswith("lumos"):
                timings = results[name].timings
                if name == "lumos LIME (lumos Model)":
                    native.append(timings["native_ms"])
                else:
                    splits.append(timings)
    overhead = [(wall - c) / c for wall, c in zip(times["lumos LIME (lumos Model)"], native)]
    print(f"\n### LIME, resnet18, chelsea 224x224, {args.lime_samples} samples, batch {args.lime_batch}, "
          f"{args.lime_rounds} rounds\n")
    print("| side | median ms | segments | top label | R² |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in sides:
        e = results[name]
        label = e.top_labels[0]
        print(f"| {name} | {median(times[name]):.0f} | {len(np.unique(e.segments))} | {label} | {e.score[label]:.3f} |")
    base = times["lime (PyTorch classifier_fn)"]
    for name in list(sides)[1:]:
        ratios = [b / t for b, t in zip(base, times[name])]
        print(f"\nlime / {name} per round: median {median(ratios):.2f}x")
    outside = [t["segmentation_ms"] + t["images_ms"] + t["regression_ms"] for t in splits]
    print(f"lumos with the PyTorch classifier: segmentation + images + regression {median(outside):.0f} ms, "
          f"model calls {median([t['model_ms'] for t in splits]):.0f} ms")
    print(f"Python overhead over the C++ call (lumos Model): median {100 * median(overhead):.2f} %, "
          f"max {100 * max(overhead):.2f} % ({median(times['lumos LIME (lumos Model)']) - median(native):.1f} ms)")


def lumos_manifest(fixtures):
    import json
    with open(os.path.join(fixtures, "torchvision", "manifest.json")) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refs", required=True, help="folder with pytorch-grad-cam/, ttach/ and lime/ sources")
    parser.add_argument("--fixtures", default=os.path.join(HERE, "..", "build", "fixtures"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cam-rounds", type=int, default=11)
    parser.add_argument("--lime-rounds", type=int, default=3)
    parser.add_argument("--lime-samples", type=int, default=1000)
    parser.add_argument("--lime-batch", type=int, default=10)
    parser.add_argument("--only", choices=["gradcam", "lime"])
    args = parser.parse_args()
    for package in ("pytorch-grad-cam", "ttach", "lime"):
        sys.path.insert(0, os.path.join(args.refs, package))
    import lumos
    import pytorch_grad_cam

    # One LibTorch serves both (Debian's python3-torch and liblumos load the same libtorch_cpu):
    # the thread count and the allocator setting below apply to both sides alike.
    lumos.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    lumos.keep_freed_memory()
    load = open("/proc/loadavg").read().split()[:3]
    print(f"threads {args.threads}; {os.cpu_count()} cores; load average before: {' '.join(load)}; "
          f"torch {torch.__version__}; lumos {lumos.__version__}")
    if args.only in (None, "gradcam"):
        bench_gradcam(args, lumos, pytorch_grad_cam)
    if args.only in (None, "lime"):
        bench_lime(args, lumos)
    print(f"\nload average after: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
