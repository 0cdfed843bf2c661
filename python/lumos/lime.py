"""LIME for images with lime's arguments (lime.lime_image), computed by lumos's C++.

    from lumos import lime_image            # was: from lime import lime_image
    explainer = lime_image.LimeImageExplainer()
    explanation = explainer.explain_instance(image, classifier_fn, top_labels=5, hide_color=0, num_samples=1000)
    temp, mask = explanation.get_image_and_mask(explanation.top_labels[0], positive_only=True, num_features=5)

classifier_fn is a lumos.Model (run natively, without the GIL) or any Python callable taking a
numpy batch of images [B, H, W, 3] (of the image's dtype) and returning probabilities [B, classes];
it is called with the GIL held, batch_size images at a time, as lime calls it. The segmentation
(quickshift, as scikit-image's), the perturbed images and the surrogate fits are lumos's.
The random draws are lumos's own (seeded by random_seed), so the samples differ from lime's.
"""
import numpy as np

from lumos import _lumos
from lumos.errors import InputError


class SegmentationAlgorithm:
    """lime.wrappers.scikit_image.SegmentationAlgorithm for lumos's segmentations.

    "quickshift": kernel_size=4, max_dist=200, ratio=0.2, sigma=0, convert2lab=True, random_seed=42
    (scikit-image's algorithm and parameters); "felzenszwalb": scale=100, sigma=0.8, min_size=50
    (OpenCV ximgproc); "slic": region_size=20, ruler=10, iterations=10, min_element_percent=25,
    variant="slico" (OpenCV ximgproc's SLIC, whose parameters differ from scikit-image's).
    """

    _DEFAULTS = {
        "quickshift": {"kernel_size": 4, "max_dist": 200, "ratio": 0.2, "sigma": 0, "convert2lab": True,
                       "random_seed": 42},
        "felzenszwalb": {"scale": 100, "sigma": 0.8, "min_size": 50},
        "slic": {"variant": "slico", "region_size": 20, "ruler": 10.0, "iterations": 10, "min_element_percent": 25},
    }

    def __init__(self, algo_type, **target_params):
        if algo_type not in self._DEFAULTS:
            raise InputError(f"segmentation '{algo_type}' is unknown; use one of {sorted(self._DEFAULTS)}")
        unknown = set(target_params) - set(self._DEFAULTS[algo_type])
        if unknown:
            raise InputError(f"{algo_type} takes {sorted(self._DEFAULTS[algo_type])}, not {sorted(unknown)}")
        self.algo_type = algo_type
        self.target_params = {**self._DEFAULTS[algo_type], **target_params}

    def __call__(self, image):
        image = _contiguous_image(image)
        p = self.target_params
        if self.algo_type == "quickshift":
            return _lumos.quickshift(image, p["kernel_size"], p["max_dist"], p["ratio"], p["sigma"],
                                     p["convert2lab"], int(p["random_seed"]))
        if self.algo_type == "felzenszwalb":
            return _lumos.felzenszwalb(image, p["scale"], p["sigma"], p["min_size"])
        return _lumos.slic(image, p["variant"], p["region_size"], p["ruler"], p["iterations"],
                           p["min_element_percent"])


def _contiguous_image(image):
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.float32, np.float64):
        image = image.astype(np.float64)  # lime works on any numeric array; lumos on these three
    return np.ascontiguousarray(image)


class ImageExplanation:
    """lime's ImageExplanation: per explained label its intercept, local_exp (segment, weight)
    pairs by |weight|, score (weighted R²) and local_pred, with the image and its segments."""

    def __init__(self, image, segments, native):
        self.image = image
        self.segments = segments
        self._native = native
        self.intercept = {}
        self.local_exp = {}
        self.local_pred = {}
        self.score = {}
        for label, linear in native.explanations.items():
            self.intercept[label] = linear["intercept"]
            self.local_exp[label] = linear["weights"]
            self.score[label] = linear["score"]
            self.local_pred[label] = np.array([linear["local_prediction"]])
        self.timings = native.timings  # ms spent in lumos: segmentation, images, model, regression, native
        self.predictions = native.predictions  # the classifier's output on every sample
        self.samples = native.samples  # which segments each sample kept (row 0: all)

    def get_image_and_mask(self, label, positive_only=True, negative_only=False, hide_rest=False,
                           num_features=5, min_weight=0.):
        """(image, mask) as lime's: the segments of the label's num_features largest weights shown
        (positive ones, negative ones, or both with green/red tints), the rest kept or zeroed
        (hide_rest: then a float64 image, as lime's); mask: 1 shown (-1 negative), 0 elsewhere."""
        if label not in self.local_exp:
            raise KeyError("Label not in explanation")
        if positive_only and negative_only:
            raise ValueError("Positive_only and negative_only cannot be true at the same time.")
        image, mask = self._native.image_and_mask(int(label), bool(positive_only), bool(negative_only),
                                                  bool(hide_rest), int(num_features), float(min_weight))
        if hide_rest:
            image = image.astype(np.float64)  # lime starts from np.zeros(image.shape)
        return image, mask

    def weight_heatmap(self, label):
        """Every pixel carries its segment's weight for the label (float32 [H, W])."""
        return self._native.weight_heatmap(int(label))


class LimeImageExplainer:
    """lime.lime_image.LimeImageExplainer, computed by lumos.

    kernel_width: of the exponential kernel sqrt(exp(-d²/w²)) on cosine distances (lime's only
    kernel here: `kernel` must be None). feature_selection: 'auto', 'forward_selection',
    'highest_weights', 'lasso_path', 'none'. random_state: seeds random_seed when
    explain_instance gets none (as lime draws it).
    """

    def __init__(self, kernel_width=.25, kernel=None, verbose=False, feature_selection='auto', random_state=None):
        if kernel is not None:
            raise InputError("lumos fits lime's default kernel sqrt(exp(-d²/w²)); set kernel_width, not kernel")
        self.kernel_width = float(kernel_width)
        self.verbose = verbose
        self.feature_selection = feature_selection
        self.random_state = random_state if isinstance(random_state, np.random.RandomState) \
            else np.random.RandomState(random_state)

    def explain_instance(self, image, classifier_fn, labels=(1,), hide_color=None, top_labels=5, num_features=100000,
                         num_samples=1000, batch_size=10, segmentation_fn=None, distance_metric='cosine',
                         model_regressor=None, random_seed=None, progress_bar=True):
        """lime's explain_instance; returns an ImageExplanation.

        image: RGB [H, W, 3] or grey [H, W] (uint8, or floats as they are, e.g. in [-1, 1]).
        classifier_fn: a lumos.Model (pictures are resized and preprocessed; float images are
        taken as model input) or a callable numpy images -> probabilities [B, classes].
        hide_color: None (each segment's mean colour), a value or (r, g, b) in the image's units,
        or 'blur'. segmentation_fn: None (quickshift as lime's default, seeded by random_seed), a
        SegmentationAlgorithm, or any callable image -> integer labels [H, W].
        """
        if distance_metric != 'cosine':
            raise InputError(f"lumos weighs samples by cosine distance (lime's default), not '{distance_metric}'")
        if model_regressor is not None:
            raise InputError("lumos fits lime's default surrogate (weighted Ridge, alpha=1); model_regressor is not "
                             "taken")
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)  # lime's gray2rgb
        if random_seed is None:
            random_seed = self.random_state.randint(0, high=1000)
        pixels = _contiguous_image(image)
        segments = None
        if segmentation_fn is not None:
            labels_found = np.asarray(segmentation_fn(image))
            if labels_found.shape != image.shape[:2]:
                raise InputError(f"segmentation_fn returned {list(labels_found.shape)} labels for a "
                                 f"{list(image.shape[:2])} image; it must label every pixel")
            _, segments = np.unique(labels_found, return_inverse=True)  # 0 … S-1, as lime's columns
            segments = segments.reshape(labels_found.shape).astype(np.int32)
        progress = _progress_bar(num_samples) if progress_bar else None
        try:
            native = _lumos.lime(pixels, classifier_fn, segments, hide_color, int(num_samples), int(batch_size),
                                 int(top_labels or 0), [int(label) for label in labels], int(num_features),
                                 self.feature_selection, self.kernel_width, int(random_seed),
                                 progress.update_to if progress else None)
        finally:
            if progress:
                progress.close()
        explanation = ImageExplanation(image, native.segments, native)
        if top_labels:
            explanation.top_labels = list(native.top_labels)
        if self.verbose:
            for label in native.top_labels:
                print('Intercept', explanation.intercept[label])
                print('Prediction_local', explanation.local_pred[label])
                print('Right:', native.predictions[0, label])
        return explanation


class _Progress:
    def __init__(self, bar):
        self.bar = bar

    def update_to(self, done, total):
        self.bar.update(done - self.bar.n)

    def close(self):
        self.bar.close()


def _progress_bar(total):
    """A tqdm bar when tqdm is installed (lime shows one); none otherwise."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return _Progress(tqdm(total=total))
