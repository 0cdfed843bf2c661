"""lumos: see what an image classifier looks at.

Grad-CAM and the rest of the CAM family, LIME, and every method family of the C++ library,
computed natively on the model file (ONNX) with the GIL released::

    import lumos
    model = lumos.Model("resnet50.onnx")
    heatmaps = lumos.GradCAM(model, target_layers=[model.default_layer])(input_tensor=batch)

The CAM classes take pytorch-grad-cam's arguments (``lumos.cam``), the LIME explainer takes
lime's (``lumos.lime``), and ``lumos.explain`` runs the library's whole pipeline. See
docs/python.md.
"""
from lumos.errors import (CancelledError, Error, ImageError, InputError, LayerNotFoundError, ModelError,
                          UnsupportedOpError)
from lumos import _lumos
from lumos._lumos import (InputSpec, Layer, cpu_has_native_bf16, get_num_threads, keep_freed_memory, load_image,
                          save_png, set_num_threads)
from lumos.model import Model
from lumos.pictures import find_boundaries, mark_boundaries, show_cam_on_image
from lumos.cam import (CAM, AblationCAM, ClassifierOutputTarget, EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM,
                       LayerCAM, ScoreCAM, XGradCAM)
from lumos import lime, lime_image
from lumos.explain import ExplainPipeline, explain, method_names, method_options, render_pictures

try:
    from importlib.metadata import version as _version
    __version__ = _version("lumos")
except Exception:  # run from the source tree, not installed
    __version__ = "unknown"

__all__ = [
    "AblationCAM", "CAM", "CancelledError", "ClassifierOutputTarget", "EigenCAM", "Error", "ExplainPipeline",
    "GradCAM", "GradCAMPlusPlus", "HiResCAM", "ImageError", "InputError", "InputSpec", "Layer", "LayerCAM",
    "LayerNotFoundError", "Model", "ModelError", "ScoreCAM", "UnsupportedOpError", "XGradCAM",
    "cpu_has_native_bf16", "explain", "find_boundaries", "get_num_threads", "keep_freed_memory", "lime",
    "lime_image", "load_image", "mark_boundaries", "method_names", "method_options", "render_pictures", "save_png",
    "set_num_threads", "show_cam_on_image",
]
