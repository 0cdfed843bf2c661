"""The CAM family with pytorch-grad-cam's arguments.

    from lumos import GradCAM, ClassifierOutputTarget
    cam = GradCAM(model=model, target_layers=[model.default_layer])
    grayscale_cam = cam(input_tensor=x, targets=[ClassifierOutputTarget(281)])   # [N, H, W]

Differences from pytorch-grad-cam (docs/python.md): target layers are layer *names* in the model
file (``model.layers()``, ``model.default_layer``), not modules; one target may stand for the whole
batch; the input may also be uint8 pictures (with ``preprocess=``); the computing is lumos's C++
(one forward and one backward that stops at the layer), with the GIL released.
"""
import warnings

from lumos import _lumos
from lumos.errors import InputError
from lumos.model import Model, as_array


class ClassifierOutputTarget:
    """The model's score for one class (pytorch-grad-cam's target of the same name)."""

    def __init__(self, category):
        self.category = category

    def __call__(self, model_output):
        return model_output[..., self.category]

    def __repr__(self):
        return f"ClassifierOutputTarget({self.category})"


def _layer_names(target_layers):
    if target_layers is None:
        return []
    if isinstance(target_layers, str):
        return [target_layers]
    names = list(target_layers)
    for layer in names:
        if not isinstance(layer, str):
            raise InputError(f"target_layers are layer names in the model file (strings), not {type(layer).__name__}: "
                             "lumos explains the file, not a torch module; see model.layers() and model.default_layer")
    return names


def _class_of(target):
    """What lumos's C++ takes for a target: a class index, a label, or None (the top class)."""
    if target is None or isinstance(target, (int, str)):
        return target
    if type(target).__name__ == "ClassifierOutputTarget" and hasattr(target, "category"):
        return int(target.category)  # lumos's, or pytorch-grad-cam's own
    if hasattr(target, "__index__"):
        return int(target)
    raise InputError(f"lumos explains one class's score per image: give ClassifierOutputTarget(k), a class index, a "
                     f"label or None, not {type(target).__name__} (for probabilities open the model with "
                     "score='probability')")


class CAM:
    """Several CAM methods in one call: the gradient methods share one forward and one backward.

    CAM(model, target_layers=None, methods=("gradcam", "gradcam++"), batch_size=32)
    cam(input_tensor, targets=None, aug_smooth=False, eigen_smooth=False, preprocess=None)
    returns {method: [N, H, W] float32}.
    """

    methods = ()
    batch_size = 32

    def __init__(self, model, target_layers=None, reshape_transform=None, methods=None, batch_size=None):
        self.model = model if isinstance(model, _lumos.Model) else Model(model)
        self.target_layers = _layer_names(target_layers)
        if reshape_transform is not None:
            raise InputError("lumos reads each layer's layout (NCHW or NHWC) from the model; reshape_transform is "
                             "not taken")
        if methods is not None:
            self.methods = tuple(methods)
        if not self.methods:
            raise InputError("no CAM method given; methods=" + repr(_lumos.cam_methods()))
        if batch_size is not None:
            self.batch_size = batch_size
        self.native_ms = 0.0  # time the last call spent in lumos's C++ explainer
        self.targets_explained = []  # the class explained in each image by the last call

    def __call__(self, input_tensor, targets=None, aug_smooth=False, eigen_smooth=False, preprocess=None):
        """Maps [N, H, W] float32 in [0, 1] at the model's input size, one per image.

        input_tensor: float input laid out as the model takes it ([N, C, H, W] for an NCHW
        model; channels-last is transposed), a torch tensor, or uint8 RGB pictures ([H, W, 3],
        [N, H, W, 3] or a list of any sizes), which are resized and preprocessed (`preprocess`,
        else the model's). targets: None (each image's top class), or one or N of
        ClassifierOutputTarget(k), class indices, labels.
        """
        classes = None if targets is None else [_class_of(t) for t in targets]
        out = _lumos.cam(self.model, list(self.methods), self.target_layers, as_array(input_tensor), classes,
                         bool(aug_smooth), bool(eigen_smooth), int(self.batch_size), preprocess)
        self.native_ms = out["native_ms"]
        self.targets_explained = out["classes"]
        for warning in dict.fromkeys(out["warnings"]):
            warnings.warn(warning, stacklevel=2)
        return self._result(dict(zip(self.methods, out["maps"])))

    def _result(self, maps):
        return maps

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        return False


class _OneMethod(CAM):
    def __init__(self, model, target_layers=None, reshape_transform=None, batch_size=None):
        super().__init__(model, target_layers, reshape_transform, batch_size=batch_size)

    def _result(self, maps):
        return maps[self.methods[0]]


class GradCAM(_OneMethod):
    """Channel weights: the spatial mean of the gradient."""
    methods = ("gradcam",)


class GradCAMPlusPlus(_OneMethod):
    """Channel weights: sum of alpha * relu(gradient) (the closed form of exp(score))."""
    methods = ("gradcam++",)


class HiResCAM(_OneMethod):
    """Map: sum over channels of gradient * activation."""
    methods = ("hirescam",)


class XGradCAM(_OneMethod):
    """Channel weights: sum(gradient * activation) / (sum(activation) + eps)."""
    methods = ("xgradcam",)


class LayerCAM(_OneMethod):
    """Map: sum over channels of relu(gradient) * activation."""
    methods = ("layercam",)


class EigenCAM(_OneMethod):
    """The projection on the first principal component of the activations (no gradient)."""
    methods = ("eigencam",)


class ScoreCAM(_OneMethod):
    """Channel weights: softmax of the scores of the image masked by each channel (one forward per channel)."""
    methods = ("scorecam",)
    batch_size = 16  # pytorch-grad-cam's


class AblationCAM(_OneMethod):
    """Channel weights: the relative drop of the score with the channel zeroed (the model's head per channel)."""
    methods = ("ablationcam",)
