"""Shared fixtures of the Python package's tests (python/tests/run.sh sets the paths)."""
import json
import os
import subprocess

import numpy as np
import onnx
import onnx.helper as oh
import pytest
from onnx import TensorProto

import lumos


@pytest.fixture(scope="session", autouse=True)
def two_threads():
    """The threads the CLI is run with here (run_cli), so that both compute alike."""
    lumos.set_num_threads(2)


def _path(variable):
    value = os.environ.get(variable)
    if not value:
        pytest.fail(f"{variable} is not set: run the tests with python/tests/run.sh BUILD_DIR")
    return value


@pytest.fixture(scope="session")
def fixtures_dir():
    return _path("LUMOS_FIXTURES")


@pytest.fixture(scope="session")
def cli():
    return _path("LUMOS_CLI")


@pytest.fixture(scope="session")
def face_model_path():
    path = _path("LUMOS_MODEL")
    assert os.path.exists(path), f"{path} is missing: run scripts/make_fixtures.sh"
    return path


@pytest.fixture(scope="session")
def face_model(face_model_path):
    return lumos.Model(face_model_path)


@pytest.fixture(scope="session")
def face_path():
    return os.path.join(_path("LUMOS_SAMPLES"), "astronaut.png")


@pytest.fixture(scope="session")
def face(face_path):
    return lumos.load_image(face_path)


def torchvision_file(fixtures_dir, name):
    path = os.path.join(fixtures_dir, "torchvision", name)
    assert os.path.exists(path), f"{path} is missing: run scripts/make_fixtures.sh"
    return path


@pytest.fixture(scope="session")
def resnet18(fixtures_dir):
    return lumos.Model(torchvision_file(fixtures_dir, "resnet18.onnx"))


@pytest.fixture(scope="session")
def resnet18_input(fixtures_dir):
    return np.load(torchvision_file(fixtures_dir, "resnet18.input.npy"))


@pytest.fixture(scope="session")
def cam_manifest(fixtures_dir):
    path = os.path.join(fixtures_dir, "cam", "manifest.json")
    assert os.path.exists(path), f"{path} is missing: run scripts/make_fixtures.sh"
    with open(path) as f:
        return json.load(f)["cases"]


def run_cli(cli, *args):
    """Runs the lumos CLI; returns (exit code, stdout, stderr)."""
    done = subprocess.run([cli, "--threads", "2", *args], capture_output=True, text=True)
    return done.returncode, done.stdout, done.stderr


def tiny_classifier(path, size=16, classes=3):
    """x [N,3,size,size] -> Conv 3x3 (4 channels) -> Relu -> GlobalAveragePool -> Flatten -> Gemm: a
    model whose every call takes well under a millisecond, for tests that call lumos many times."""
    rng = np.random.default_rng(7)
    weights = {
        "conv_w": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
        "conv_b": rng.normal(size=(4,)).astype(np.float32),
        "fc_w": rng.normal(size=(classes, 4)).astype(np.float32),
        "fc_b": rng.normal(size=(classes,)).astype(np.float32),
    }
    nodes = [
        oh.make_node("Conv", ["x", "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1], name="conv"),
        oh.make_node("Relu", ["conv"], ["relu"], name="relu"),
        oh.make_node("GlobalAveragePool", ["relu"], ["pool"], name="pool"),
        oh.make_node("Flatten", ["pool"], ["flat"], name="flatten"),
        oh.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["scores"], transB=1, name="fc"),
    ]
    graph = oh.make_graph(
        nodes, "tiny",
        [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])],
        [oh.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", classes])],
        [oh.make_tensor(name, TensorProto.FLOAT, value.shape, value.flatten()) for name, value in weights.items()])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return weights


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("models") / "tiny.onnx")
    tiny_classifier(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    return lumos.Model(tiny_model_path, preprocess="unit")
