"""lumos.explain: the library's pipeline from Python gives what `lumos explain` (C++) writes, and its
Python-side shapes (per-image targets, streaming, progress, cancellation, files)."""
import json
import os

import numpy as np
import pytest

import lumos
from conftest import run_cli

METHODS = ["gradcam", "gradcam++", "eigencam", "lime"]


@pytest.fixture(scope="module")
def cli_output(cli, face_model_path, face_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    code, _, stderr = run_cli(cli, "explain", "-m", face_model_path, "-i", face_path, "--method", ",".join(METHODS),
                              "--lime-samples", "60", "--seed", "4", "--format", "json,npy", "-o", str(out))
    assert code == 0, stderr
    folder = out / "astronaut"
    with open(folder / "explanation.json") as f:
        return folder, json.load(f)


def test_the_pipeline_gives_what_the_cli_writes(cli_output, face_model, face_path):
    folder, record = cli_output
    (result,) = lumos.explain(face_model, [face_path], methods=METHODS, lime_samples=60, seed=4)
    assert result.ok and result.name == face_path
    assert [p.class_index for p in result.predictions] == [p["class"] for p in record["predictions"]]
    assert [p.probability for p in result.predictions] == pytest.approx(
        [p["probability"] for p in record["predictions"]], abs=1e-12)
    target = result.targets[0]
    assert target.label == record["targets"][0]["label"] == "happy"
    for method in METHODS[:3]:
        expected = np.load(folder / f"{method}_happy.npy")
        assert np.abs(target[method].map - expected).max() <= 1e-6, method
    lime = target["lime"].segments
    written = record["targets"][0]["methods"][3]
    assert lime.intercept == pytest.approx(written["intercept"], abs=1e-9)
    assert lime.score == pytest.approx(written["r2"], abs=1e-9)
    assert [s for s, _ in lime.weights] == [w["segment"] for w in written["weights"]]
    assert [w for _, w in lime.weights] == pytest.approx([w["weight"] for w in written["weights"]], abs=1e-9)
    assert set(target["lime"].time_split_ms) == {"segmentation", "images", "model", "regression"}


def test_pictures_targets_and_errors_per_image(face_model, face, face_path):
    pipeline = lumos.ExplainPipeline(face_model, methods=["gradcam"], targets=["top1", "sad"])
    assert pipeline.methods == ["gradcam"]
    assert ("CAM layer", face_model.default_layer) in pipeline.settings
    results = pipeline.run([face, "no/such/file.png", face_path], targets=[None, None, ["angry"]])
    assert [r.ok for r in results] == [True, False, True]
    assert "no/such/file.png" in results[1].error
    assert [t.label for t in results[0].targets] == ["happy", "sad"]
    assert [t.label for t in results[2].targets] == ["angry"]
    # A decoded picture and its file give the same explanation (in a batch of one: within float noise).
    alone = pipeline.run([face_path], targets=[["top1"]])[0].targets[0]["gradcam"].map
    assert np.abs(results[0].targets[0]["gradcam"].map - alone).max() < 1e-6
    assert np.array_equal(results[0].image, face)
    pictures = lumos.render_pictures(results[0].targets[0]["gradcam"], results[0])
    assert pictures[""].shape == face.shape and pictures[""].dtype == np.uint8


def test_streaming_progress_and_cancel(face_model, face):
    pipeline = lumos.ExplainPipeline(face_model, methods=["lime"], lime_samples=20, perturbation_batch=10,
                                     batch_size=1)
    seen, steps = [], []
    assert pipeline.run([face, face], on_result=seen.append,
                        progress=lambda image, images, method, done, total: steps.append((image, method, done))) == []
    assert [r.index for r in seen] == [0, 1]
    assert (1, "lime", 20) in steps
    calls = []
    with pytest.raises(lumos.CancelledError):
        pipeline.run([face, face], cancel=lambda: calls.append(1) or len(calls) > 2)
    assert 3 <= len(calls) <= 4  # asked between steps; the third answer stopped the run


def test_files_as_the_cli_writes_them(face_model, face, tmp_path):
    pipeline = lumos.ExplainPipeline(face_model, methods=["gradcam", "lime"], lime_samples=30)
    (result,) = pipeline.run([face])
    path = pipeline.write_folder(result, tmp_path, "face", npy=True)
    assert sorted(os.listdir(path)) == sorted([
        "input.png", "explanation.json", "gradcam_happy.png", "gradcam_happy.npy", "lime_happy.png",
        "lime_happy_mask.png", "lime_happy_heatmap.png",
        "input.thumb.jpg", "gradcam_happy.thumb.jpg", "lime_happy.thumb.jpg"])  # the report gallery's
    assert json.loads(pipeline.explanation_json(result))["targets"][0]["label"] == "happy"


def test_every_registered_method_is_reachable(face_model, face):
    names = lumos.method_names()
    assert {"gradcam", "scorecam", "lime"} <= set(names)
    cheap = [m for m in names if m not in ("scorecam", "ablationcam", "lime")]
    (result,) = lumos.explain(face_model, [face], methods=cheap, options={}, lime_samples=30)
    assert [m.method for m in result.targets[0].methods] == cheap
    for method in result.targets[0].methods:
        assert method.map.ndim == 2 and 0 <= method.map.min() and method.map.max() <= 1


def test_bad_requests(face_model, face):
    with pytest.raises(lumos.InputError, match="unknown method 'gradcum'|gradcum"):
        lumos.explain(face_model, [face], methods=["gradcum"])
    with pytest.raises(lumos.InputError, match="no.such"):
        lumos.explain(face_model, [face], methods=["gradcam"], options={"no.such": 1})
    with pytest.raises(lumos.LayerNotFoundError):
        lumos.explain(face_model, [face], methods=["gradcam"], layers=["nope"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'method'"):
        lumos.explain(face_model, [face], method="gradcam")
    with pytest.raises(lumos.InputError, match="uint8 RGB picture"):
        lumos.explain(face_model, [np.zeros((8, 8, 3), np.float32)], methods=["gradcam"])
