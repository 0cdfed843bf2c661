"""Writes a torchvision classifier's ONNX export with its BatchNormalization nodes kept, for
bench/run_inference_plan_bench.sh (lumos folds them at load; torch.onnx folds them on export).

Usage: /usr/bin/python3 bench/export_unfolded.py MODEL OUT.onnx
Same seed and weights as tests/fixtures/make_torchvision_models.py's MODEL.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
import make_torchvision_models as fixtures  # noqa: E402


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in fixtures.MODELS:
        sys.exit(__doc__)
    name, path = sys.argv[1:]
    opset, size, _, kwargs = fixtures.MODELS[name]
    fixtures.UNFOLDED[name + "_bn"] = name
    model = fixtures.build(name + "_bn", kwargs, size)
    fixtures.export(model, fixtures.input_batch(size), path, opset, keep_batch_norms=True)


if __name__ == "__main__":
    main()
