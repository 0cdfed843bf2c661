"""lumos.Model: a classifier file lumos runs and explains."""
import numpy as np

from lumos import _lumos


def as_array(x):
    """A numpy array for x: arrays as they are, torch tensors without a copy (CPU), lists as given."""
    if isinstance(x, (np.ndarray, list, tuple)):
        return x
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch.Tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _batches(images, batch_size):
    """Pieces of at most batch_size images: a list is cut, an array with a batch axis sliced."""
    if isinstance(images, (list, tuple)):
        for start in range(0, len(images), batch_size):
            yield list(images[start:start + batch_size])
    elif images.ndim == 4:
        for start in range(0, images.shape[0], batch_size):
            yield images[start:start + batch_size]
    else:
        yield images  # one picture, or one input without its batch axis


class Model(_lumos.Model):
    """A classifier lumos explains: an ONNX, Keras (.keras, .h5) or TF.js (model.json) model.

    Model(path, preprocess=None, labels=None, score="logits", input_size=None, output="")

    - preprocess: how pictures (uint8 RGB) become the model's input: a preset name ("imagenet",
      "tf", "caffe", "unit", "raw") or {"mean": [...], "std": [...]}; default: the model's
      "preprocess" metadata, else "imagenet". Float arrays are taken as already prepared.
    - labels: class names (a list, or a file with one per line); default: the model's metadata.
    - score: which number explanations are about: "logits" (a trailing Softmax is skipped) or
      "probability".
    - input_size: (height, width) for models whose input size is open (the CLI's --size): the
      model runs at it (layers, default_layer, every batch).
    - output: for a model with several outputs, the one that holds the class scores (the CLI's
      --output; default: the first).

    Attributes: path, input (InputSpec), input_size (height, width), preprocess, labels,
    default_layer (the usual CAM layer), metadata, score_description; layers() lists every
    value that can be a target layer.
    """

    def predict(self, images, batch_size=32, preprocess=None):
        """Class probabilities [N, classes] (float32): the softmax of the scores (a sigmoid per class
        for a multi-label Sigmoid head; the scores themselves when opened with score="probability").

        images: uint8 RGB pictures ([H, W, 3], [N, H, W, 3], or a list of pictures of any
        sizes), resized to the model's size and preprocessed; or a float array already laid out
        as the model takes it ([N, C, H, W] or [N, H, W, C]; channels-last is transposed for an
        NCHW model, as lime hands images to its classifier), or a torch tensor.
        """
        return self._run(self._probabilities, images, batch_size, preprocess)

    def scores(self, images, batch_size=32, preprocess=None):
        """The model's scores [N, classes] (logits unless the model was opened with score="probability")."""
        return self._run(self._scores, images, batch_size, preprocess)

    def _run(self, compute, images, batch_size, preprocess):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        parts = [compute(part, preprocess) for part in _batches(as_array(images), batch_size)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __repr__(self):
        spec = self.input
        return f"lumos.Model('{self.path}', input={spec.layout} {spec.channels}x{spec.height}x{spec.width})"
