"""The lime-shaped explainer: lime's call and result shapes, a Python callable classifier, scikit-image's
quickshift and mark_boundaries, lime's get_image_and_mask."""
import threading

import numpy as np
import pytest
import skimage.segmentation
import skimage.transform
from sklearn.metrics import adjusted_rand_score

import lumos
from lumos import lime_image
from lumos.lime import SegmentationAlgorithm


@pytest.fixture(scope="module")
def small_face(face):
    """The sample face at 64 x 64: quickshift in scikit-image stays quick."""
    return np.uint8(skimage.transform.resize(face, (64, 64), order=1, anti_aliasing=False) * 255)


def test_default_segmentation_is_scikit_images_quickshift(small_face):
    explainer = lime_image.LimeImageExplainer()
    for image in (small_face, small_face / 127.5 - 1):  # 8-bit, and floats in [-1, 1] as lime's tutorials
        explanation = explainer.explain_instance(image, lambda x: np.ones((len(x), 2)), num_samples=10,
                                                 random_seed=3, progress_bar=False)
        expected = skimage.segmentation.quickshift(image, kernel_size=4, max_dist=200, ratio=0.2, random_seed=3)
        assert adjusted_rand_score(expected.ravel(), explanation.segments.ravel()) > 0.99


class Recorder:
    """A classifier_fn that records how lime's caller treats it: mean red and green of each image."""

    def __init__(self):
        self.batches = []
        self.threads = set()

    def __call__(self, images):
        self.batches.append((images.shape, images.dtype))
        self.threads.add(threading.get_ident())
        red_green = images[..., :2].reshape(len(images), -1, 2).mean(axis=1) / 255
        return np.concatenate([red_green, np.full((len(images), 1), 0.1)], axis=1)


def test_a_python_callable_is_called_as_lime_calls_it(small_face):
    recorder = Recorder()
    explanation = lime_image.LimeImageExplainer().explain_instance(
        small_face, recorder, top_labels=2, hide_color=0, num_samples=95, batch_size=10, random_seed=1,
        progress_bar=False)
    # Batches of batch_size (the last one shorter) of uint8 HWC pictures, on the calling thread.
    assert [shape[0] for shape, _ in recorder.batches] == [10] * 9 + [5]
    assert all(shape[1:] == (64, 64, 3) and dtype == np.uint8 for shape, dtype in recorder.batches)
    assert recorder.threads == {threading.get_ident()}
    # lime's top_labels: the classifier's best classes on the image itself.
    first = recorder(small_face[None])[0]
    assert explanation.top_labels == list(np.argsort(first)[::-1][:2])
    label = explanation.top_labels[0]
    weights = explanation.local_exp[label]
    assert sorted(segment for segment, _ in weights) == list(range(explanation.segments.max() + 1))
    assert [abs(w) for _, w in weights] == sorted((abs(w) for _, w in weights), reverse=True)
    assert 0 < explanation.score[label] <= 1
    assert explanation.local_pred[label].shape == (1,)
    assert isinstance(explanation.intercept[label], float)


def test_a_model_and_its_predict_give_the_same_explanation(face_model, face):
    explainer = lime_image.LimeImageExplainer()
    settings = dict(top_labels=3, hide_color=0, num_samples=30, batch_size=15, random_seed=5, progress_bar=False)
    by_model = explainer.explain_instance(face, face_model, **settings)
    by_callable = explainer.explain_instance(face, face_model.predict, **settings)
    assert by_model.top_labels == by_callable.top_labels
    for label in by_model.top_labels:
        assert by_model.local_exp[label] == pytest.approx(by_callable.local_exp[label], abs=1e-9)
        assert by_model.score[label] == pytest.approx(by_callable.score[label], abs=1e-9)


def test_float_images_reach_the_classifier_as_floats(small_face):
    seen = []

    def classifier(images):
        seen.append(images.dtype)
        return Recorder()((images + 1) * 127.5)

    image = small_face / 127.5 - 1
    explanation = lime_image.LimeImageExplainer().explain_instance(
        image, classifier, top_labels=1, hide_color=-1, num_samples=30, random_seed=2, progress_bar=False)
    assert set(seen) == {np.dtype(np.float64)}
    temp, mask = explanation.get_image_and_mask(explanation.top_labels[0], positive_only=True, hide_rest=True)
    assert temp.dtype == np.float64 and mask.shape == (64, 64)
    shown = mask == 1
    assert np.array_equal(temp[shown], image[shown]) and not temp[~shown].any()


def lime_get_image_and_mask(explanation, label, positive_only, negative_only, hide_rest, num_features, min_weight):
    """lime's ImageExplanation.get_image_and_mask, as lime/lime_image.py computes it."""
    segments, image, exp = explanation.segments, explanation.image, explanation.local_exp[label]
    mask = np.zeros(segments.shape, segments.dtype)
    temp = np.zeros(image.shape) if hide_rest else image.copy()
    if positive_only or negative_only:
        if positive_only:
            fs = [x[0] for x in exp if x[1] > 0 and x[1] > min_weight][:num_features]
        else:
            fs = [x[0] for x in exp if x[1] < 0 and abs(x[1]) > min_weight][:num_features]
        for f in fs:
            temp[segments == f] = image[segments == f].copy()
            mask[segments == f] = 1
        return temp, mask
    for f, w in exp[:num_features]:
        if np.abs(w) < min_weight:
            continue
        c = 0 if w < 0 else 1
        mask[segments == f] = -1 if w < 0 else 1
        temp[segments == f] = image[segments == f].copy()
        temp[segments == f, c] = np.max(image)
    return temp, mask


def test_get_image_and_mask_is_limes(small_face):
    explanation = lime_image.LimeImageExplainer().explain_instance(
        small_face, Recorder(), top_labels=2, hide_color=0, num_samples=80, random_seed=4, progress_bar=False)
    label = explanation.top_labels[1]
    for positive_only, negative_only, hide_rest, num_features, min_weight in [
            (True, False, False, 5, 0.0), (True, False, True, 3, 0.0), (False, True, False, 5, 0.0),
            (False, False, False, 6, 0.0), (False, False, True, 10, 0.001)]:
        got = explanation.get_image_and_mask(label, positive_only=positive_only, negative_only=negative_only,
                                             hide_rest=hide_rest, num_features=num_features, min_weight=min_weight)
        expected = lime_get_image_and_mask(explanation, label, positive_only, negative_only, hide_rest,
                                           num_features, min_weight)
        assert got[0].dtype == expected[0].dtype
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    with pytest.raises(KeyError):
        explanation.get_image_and_mask(999)


def test_mark_boundaries_is_scikit_images(small_face):
    labels = SegmentationAlgorithm("quickshift", kernel_size=3, max_dist=50, ratio=0.5)(small_face)
    labels[:10, :10] = 0  # a background region for inner/outer
    for image in (small_face, small_face / np.float32(255), small_face[..., 0]):
        for mode in ("outer", "inner", "thick"):
            expected = skimage.segmentation.mark_boundaries(image, labels, mode=mode)
            got = lumos.mark_boundaries(image, labels, mode=mode)
            assert got.dtype == expected.dtype
            assert np.array_equal(got, expected), mode
    expected = skimage.segmentation.mark_boundaries(small_face, labels, color=(1, 0, 0), outline_color=(0, 0, 1))
    assert np.array_equal(lumos.mark_boundaries(small_face, labels, color=(1, 0, 0), outline_color=(0, 0, 1)),
                          expected)


def test_segmentation_functions(small_face):
    explainer = lime_image.LimeImageExplainer()
    for segmentation_fn in (SegmentationAlgorithm("slic", region_size=16),
                            SegmentationAlgorithm("felzenszwalb", scale=50),
                            lambda image: skimage.segmentation.slic(image, n_segments=20, start_label=1) * 3):
        explanation = explainer.explain_instance(small_face, Recorder(), top_labels=1, num_samples=20,
                                                 segmentation_fn=segmentation_fn, progress_bar=False)
        count = explanation.segments.max() + 1
        assert sorted(np.unique(explanation.segments)) == list(range(count))
        assert len(explanation.local_exp[explanation.top_labels[0]]) == count


def test_random_state_makes_runs_repeat(small_face):
    def run(state):
        return lime_image.LimeImageExplainer(random_state=state).explain_instance(
            small_face, Recorder(), num_samples=40, top_labels=1, progress_bar=False)
    a, b = run(7), run(7)
    assert a.local_exp == b.local_exp and np.array_equal(a.segments, b.segments)


def test_bad_classifiers_and_arguments(small_face):
    explainer = lime_image.LimeImageExplainer()
    settings = dict(num_samples=20, progress_bar=False)

    def failing(images):
        raise ZeroDivisionError("the classifier's own error")

    with pytest.raises(ZeroDivisionError, match="the classifier's own error"):
        explainer.explain_instance(small_face, failing, **settings)
    with pytest.raises(lumos.InputError, match="classifier must return scores \\[batch, classes\\]"):
        explainer.explain_instance(small_face, lambda x: np.ones(len(x)), **settings)
    with pytest.raises(lumos.InputError, match="classifier_fn returned None"):
        explainer.explain_instance(small_face, lambda x: None, **settings)
    with pytest.raises(lumos.InputError, match="classifier_fn must return probabilities"):
        explainer.explain_instance(small_face, lambda x: [["a"] * 2] * len(x), **settings)
    with pytest.raises(lumos.InputError, match="NaN or infinite"):
        explainer.explain_instance(small_face, lambda x: np.full((len(x), 2), np.nan), **settings)
    with pytest.raises(lumos.InputError, match="classifier_fn must be a lumos.Model or a callable"):
        explainer.explain_instance(small_face, "resnet", **settings)
    with pytest.raises(lumos.InputError, match="num_samples >= 2"):
        explainer.explain_instance(small_face, Recorder(), num_samples=1, progress_bar=False)
    with pytest.raises(lumos.InputError, match="cosine"):
        explainer.explain_instance(small_face, Recorder(), distance_metric="euclidean", **settings)
    with pytest.raises(lumos.InputError, match="image"):
        explainer.explain_instance(np.zeros((4, 4, 4), np.uint8), Recorder(), **settings)
