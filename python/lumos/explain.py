"""The library's explain pipeline: a request, images in, per-image results out.

    results = lumos.explain(model, ["cat.jpg", picture], methods=["gradcam", "lime"], targets=["top1"])
    results[0].targets[0]["gradcam"].map          # [H, W] float32 in [0, 1]
    results[0].targets[0]["lime"].segments.weights

Every method family registered in the C++ library (lumos.method_names()) runs through it, with
its options (lumos.method_options()) passed as `options={"family.key": value}`.
"""
from lumos import _lumos
from lumos._lumos import method_names, method_options, render_pictures
from lumos.model import Model

# Keyword arguments of explain() / ExplainPipeline(), as ExplainRequest fields.
_REQUEST_FIELDS = ("methods", "targets", "layers", "preprocess", "input_size", "labels", "top_k", "batch_size",
                   "perturbation_batch", "bf16", "seed", "aug_smooth", "eigen_smooth", "lime_samples",
                   "lime_min_side", "hide_color", "options")


def _request(**settings):
    request = _lumos.ExplainRequest()
    for key, value in settings.items():
        if key not in _REQUEST_FIELDS:
            raise TypeError(f"explain() got an unexpected keyword argument '{key}'; it takes {', '.join(_REQUEST_FIELDS)}")
        if key == "options":
            value = {str(k): str(v) for k, v in value.items()}
        elif key in ("methods", "layers") and isinstance(value, str):
            value = [value]
        setattr(request, key, value)
    return request


class ExplainPipeline:
    """A model and a request settled once (methods, layers, options are checked here), then
    run(images) as often as wanted.

    ExplainPipeline(model, methods=("gradcam", "gradcam++", "lime"), targets=("top1",), layers=None,
                    preprocess=None, input_size=None, labels=None, top_k=5, batch_size=8,
                    perturbation_batch=64, bf16=False, seed=0, aug_smooth=False, eigen_smooth=False,
                    lime_samples=1000, lime_min_side=224, hide_color=0, options=None)

    targets: "top1".."topK", class indices or labels. preprocess, labels, input_size: the
    model's unless given. options: {"family.option": value} for method families without
    fields of their own (lumos.method_options() lists them).
    """

    def __init__(self, model, **request):
        self.model = model if isinstance(model, _lumos.Model) else Model(model)
        self._native = _lumos.ExplainPipeline(self.model, _request(**request))

    @property
    def methods(self):
        """The methods, canonical names, in the request's order."""
        return self._native.methods

    @property
    def settings(self):
        """(name, value) pairs describing the run, as explanation.json and the report show them."""
        return self._native.settings

    def run(self, images, targets=None, on_result=None, progress=None, cancel=None):
        """Explains images (file paths or uint8 RGB pictures [H, W, 3]), batch_size at a time.

        Returns an ImageResult per image, in order; an image that could not be loaded has
        `error` set and the others go on. targets: one list per image to override the
        request's (None keeps it). on_result(result): each result as soon as it is known
        (then nothing is returned). progress(image, images, method, done, total); cancel():
        True stops the run (CancelledError). Ctrl-C stops it too.
        """
        if isinstance(images, (str, bytes)) or hasattr(images, "__fspath__") or hasattr(images, "shape"):
            images = [images]
        return self._native.run(list(images), targets, on_result, progress, cancel)

    def explanation_json(self, result, npy=False):
        """The text of `lumos explain`'s explanation.json for one result."""
        return self._native.explanation_json(result, npy)

    def write_folder(self, result, parent, folder, json=True, npy=False):
        """Writes the folder `lumos explain` writes for an image (pictures, explanation.json, .npy maps)
        into parent/folder, atomically; returns its path."""
        return self._native.write_folder(result, str(parent), folder, json, npy)


def explain(model, images, **request):
    """Explains images with the model as the request says (see ExplainPipeline); one call."""
    return ExplainPipeline(model, **request).run(images)


__all__ = ["ExplainPipeline", "explain", "method_names", "method_options", "render_pictures"]
