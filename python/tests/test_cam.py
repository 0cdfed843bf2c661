"""The CAM classes: pytorch-grad-cam's numbers (the references the C++ parity test uses), its call
shapes, every input form, show_cam_on_image."""
import os
import warnings

import cv2
import numpy as np
import pytest
import torch

import lumos
from conftest import run_cli
from lumos import (AblationCAM, ClassifierOutputTarget, EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM,
                   ScoreCAM, XGradCAM)

CLASSES = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "hirescam": HiResCAM, "xgradcam": XGradCAM,
           "layercam": LayerCAM, "eigencam": EigenCAM, "scorecam": ScoreCAM, "ablationcam": AblationCAM}
TOLERANCE = 1e-4  # as tests/unit/cam_parity_test.cpp


def reference(fixtures_dir, case):
    return np.load(os.path.join(fixtures_dir, "cam", case["file"]))


# Score-CAM runs a forward per channel (512 on resnet18: a minute here); the C++ parity test covers
# it, and test_every_method_matches_the_cli below checks the binding.
@pytest.mark.parametrize("method", sorted(set(CLASSES) - {"scorecam"}))
def test_every_method_matches_pytorch_grad_cam(method, resnet18, resnet18_input, cam_manifest, fixtures_dir):
    case = cam_manifest[f"resnet18.{method}"]
    n = case["images"]
    # pytorch-grad-cam's call: one target per image (image 0: its top class, resolved by lumos).
    targets = [None] + [ClassifierOutputTarget(t) for t in case["targets"][1:n]]
    cam = CLASSES[method](model=resnet18, target_layers=case["layers"])
    maps = cam(input_tensor=resnet18_input[:n], targets=targets)
    assert maps.shape == (n, 224, 224) and maps.dtype == np.float32
    assert cam.targets_explained == case["targets"]
    assert np.abs(maps - reference(fixtures_dir, case)).max() <= max(TOLERANCE, 4 * case["noise_floor"])


@pytest.mark.parametrize("variant, options", [("multilayer", {}), ("aug_smooth", {"aug_smooth": True}),
                                              ("eigen_smooth", {"eigen_smooth": True})])
def test_layers_and_smoothing_match_pytorch_grad_cam(variant, options, resnet18, resnet18_input, cam_manifest,
                                                      fixtures_dir):
    case = cam_manifest[f"resnet18.{variant}.gradcam"]
    with GradCAM(model=resnet18, target_layers=case["layers"]) as cam:
        maps = cam(input_tensor=resnet18_input, targets=[None, ClassifierOutputTarget(case["targets"][1])], **options)
    assert np.abs(maps - reference(fixtures_dir, case)).max() <= TOLERANCE


def test_every_method_matches_the_cli(cli, tiny_model, tiny_model_path, tmp_path):
    picture = np.random.default_rng(3).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    lumos.save_png(picture, str(tmp_path / "picture.png"))
    top = int(tiny_model.scores(picture).argmax())
    code, _, stderr = run_cli(cli, "explain", "-m", tiny_model_path, "-i", str(tmp_path / "picture.png"),
                              "--preprocess", "unit", "--method", ",".join(CLASSES), "--format", "npy",
                              "-o", str(tmp_path / "out"))
    assert code == 0, stderr
    for method, cam_class in CLASSES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some maps of the 4-channel model are empty, for both
            maps = cam_class(tiny_model)(picture)
        expected = np.load(tmp_path / "out" / "picture" / f"{method}_class_{top}.npy")
        assert np.abs(maps[0] - expected).max() <= 1e-6, method


def test_methods_together_equal_methods_alone(resnet18, resnet18_input):
    together = lumos.CAM(resnet18, methods=["gradcam", "layercam"])(resnet18_input)
    assert np.array_equal(together["gradcam"], GradCAM(resnet18)(resnet18_input))
    assert np.array_equal(together["layercam"], LayerCAM(resnet18)(resnet18_input))


def test_input_forms_give_the_same_maps(resnet18, resnet18_input, face):
    layer = resnet18.default_layer
    cam = GradCAM(resnet18, target_layers=[layer])
    # A torch tensor (pytorch-grad-cam's input), a float array, one input without its batch axis.
    assert np.array_equal(cam(torch.from_numpy(resnet18_input)), cam(resnet18_input))
    assert np.array_equal(cam(resnet18_input[0])[0], cam(resnet18_input)[0])
    # Views with negative strides or gaps are copied where ATen needs it.
    flipped = resnet18_input[:, :, ::-1]
    assert np.array_equal(cam(flipped), cam(np.ascontiguousarray(flipped)))
    assert np.array_equal(cam([face[::-1], face[:, ::2]]), cam([face[::-1].copy(), face[:, ::2].copy()]))
    # Channels-last float input is transposed for an NCHW model.
    assert np.array_equal(cam(np.ascontiguousarray(resnet18_input.transpose(0, 2, 3, 1))), cam(resnet18_input))
    # A uint8 picture is resized and preprocessed like make_batch's float input.
    picture = cv2.resize(face, (224, 224), interpolation=cv2.INTER_LINEAR)
    prepared = ((picture / np.float32(255) - np.float32([0.485, 0.456, 0.406])) / np.float32([0.229, 0.224, 0.225]))
    prepared = np.ascontiguousarray(prepared.transpose(2, 0, 1)[None], dtype=np.float32)
    assert np.abs(cam(face, preprocess="imagenet") - cam(prepared)).max() < 1e-4
    # A list of pictures of different sizes, and one picture for every target given once.
    maps = cam([face, picture], targets=[ClassifierOutputTarget(3)])
    assert maps.shape == (2, 224, 224) and cam.targets_explained == [3, 3]


def test_targets_by_index_label_and_top_class(face_model, face):
    cam = GradCAM(face_model)
    top = cam(face)
    assert cam.targets_explained == [int(np.argmax(face_model.scores(face)))]
    label = face_model.labels[cam.targets_explained[0]]
    assert np.array_equal(cam(face, targets=[label]), top)
    assert np.array_equal(cam(face, targets=[cam.targets_explained[0]]), top)
    assert np.array_equal(cam(face, targets=[np.int64(cam.targets_explained[0])]), top)


def test_show_cam_on_image_is_pytorch_grad_cams(face):
    rng = np.random.default_rng(0)
    mask = rng.random(face.shape[:2], dtype=np.float32)
    img = np.float32(face) / 255
    for use_rgb, colormap, weight in [(False, cv2.COLORMAP_JET, 0.5), (True, cv2.COLORMAP_VIRIDIS, 0.3),
                                      (True, cv2.COLORMAP_INFERNO, 1.0)]:
        # pytorch_grad_cam.utils.image.show_cam_on_image, step by step with OpenCV.
        heatmap = cv2.applyColorMap(np.uint8(255 * mask), colormap)
        if use_rgb:
            heatmap = cv2.cvtColor(heatmap, cv2.COLOR_BGR2RGB)
        cam = (1 - weight) * (np.float32(heatmap) / 255) + weight * img
        expected = np.uint8(255 * (cam / np.max(cam)))
        got = lumos.show_cam_on_image(img, mask, use_rgb=use_rgb, colormap=colormap, image_weight=weight)
        assert np.array_equal(got, expected)
    # A map at another size is resized to the image first (cv2.resize, bilinear).
    small = rng.random((7, 7), dtype=np.float32)
    resized = cv2.resize(small, face.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(lumos.show_cam_on_image(face, small, use_rgb=True),
                          lumos.show_cam_on_image(img, resized, use_rgb=True))


def test_bad_calls_say_what_to_do(resnet18, resnet18_input):
    with pytest.raises(lumos.InputError, match="layer names in the model file"):
        GradCAM(resnet18, target_layers=[torch.nn.ReLU()])
    with pytest.raises(lumos.LayerNotFoundError, match="no layer named 'layer4'.*closest"):
        GradCAM(resnet18, target_layers=["layer4"])(resnet18_input)
    with pytest.raises(lumos.InputError, match="out of range|1000 classes"):
        GradCAM(resnet18)(resnet18_input, targets=[ClassifierOutputTarget(1000)])
    with pytest.raises(lumos.InputError, match="the model takes \\[N,3,224,224\\] \\(NCHW\\)"):
        GradCAM(resnet18)(np.zeros((1, 3, 100, 100), np.float32))
    with pytest.raises(lumos.InputError, match="dtype"):
        GradCAM(resnet18)(np.zeros((1, 3, 224, 224), np.complex64))
    with pytest.raises(lumos.InputError, match="unknown preprocessing 'torch'"):
        GradCAM(resnet18)(np.zeros((224, 224, 3), np.uint8), preprocess="torch")
    with pytest.raises(lumos.InputError, match="ClassifierOutputTarget"):
        GradCAM(resnet18)(resnet18_input, targets=[lambda output: output[281]])
    with pytest.raises(lumos.InputError, match="reshape_transform"):
        GradCAM(resnet18, reshape_transform=lambda x: x)
