"""docs/python.md's code runs as shown: the notebook cells (with only their imports changed) and the
examples. Each ```python block after a `<!-- test: NAME -->` line is run from the repository root,
and so is the README's Python example."""
import os
import re

import cv2
import matplotlib
import numpy as np
import pytest

import lumos
from conftest import tiny_classifier

matplotlib.use("Agg")


def blocks():
    path = os.path.join(os.environ["LUMOS_SOURCE_DIR"], "docs", "python.md")
    with open(path) as f:
        text = f.read()
    found = re.findall(r"<!-- test: ([\w-]+) -->\s*```python\n(.*?)```", text, re.S)
    assert found, f"no tested code block in {path}"
    return dict(found)


class KerasLikeModel:
    """What a Keras notebook has as `model`: predict() on float images [N, H, W, 3] in [-1, 1]
    (Inception-style preprocessing). Here a small ONNX classifier is behind it, so that the cell's
    1000 samples take a second."""

    def __init__(self, model):
        self.model = model

    def predict(self, images):
        return self.model.predict(np.asarray(images, np.float32))


@pytest.mark.parametrize("name", sorted(blocks()))
def test_documented_code_runs(name, face, tmp_path, monkeypatch):
    namespace = {}
    if name.startswith("notebook"):
        # The notebook's own cells made these: its model and its batch, prepared as the model wants.
        tiny_classifier(str(tmp_path / "model.onnx"), size=64)
        picture = cv2.resize(face, (64, 64), interpolation=cv2.INTER_AREA)
        namespace.update(model=KerasLikeModel(lumos.Model(str(tmp_path / "model.onnx"))),
                         images=np.float32(picture[None]) / 127.5 - 1)
    monkeypatch.chdir(os.environ["LUMOS_SOURCE_DIR"])
    exec(compile(blocks()[name], f"docs/python.md:{name}", "exec"), namespace)


def test_readme_example_runs(monkeypatch):
    path = os.path.join(os.environ["LUMOS_SOURCE_DIR"], "README.md")
    with open(path) as f:
        found = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(found) == 1, f"{path}: expected the Python section's one example"
    monkeypatch.chdir(os.environ["LUMOS_SOURCE_DIR"])
    namespace = {}
    exec(compile(found[0], "README.md", "exec"), namespace)
    heatmap = namespace["heatmap"]
    assert heatmap.ndim == 2 and 0 <= heatmap.min() and heatmap.max() <= 1 and heatmap.max() > 0
