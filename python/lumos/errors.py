"""Errors lumos raises: one class per kind of problem, as the C++ library has them.

The message is the library's own (what went wrong and what to do). ``InputError`` is also a
``ValueError``, so code that catches bad arguments the usual way catches lumos's too.
"""


class Error(Exception):
    """Any error lumos reports (the C++ ``lumos::Error``)."""


class ModelError(Error):
    """The model file cannot be read or is not a valid model."""


class UnsupportedOpError(ModelError):
    """The model uses an operator (or an operator version) lumos does not implement."""


class InputError(Error, ValueError):
    """An input (image, array, argument) does not fit what the model or method needs."""


class ImageError(InputError):
    """An image file cannot be read or decoded."""


class LayerNotFoundError(InputError):
    """A requested layer does not exist in the model (the message names the closest ones)."""


class CancelledError(Error):
    """A long computation was asked to stop; nothing was produced."""
