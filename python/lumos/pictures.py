"""Pictures of explanations: pytorch-grad-cam's show_cam_on_image, scikit-image's mark_boundaries."""
import numpy as np

from lumos import _lumos
from lumos.errors import InputError

# OpenCV's colour-map constants (cv2.COLORMAP_*) for the maps lumos draws.
_COLORMAPS = {2: "jet", 20: "turbo", 16: "viridis", 14: "inferno"}


def _colormap_name(colormap):
    if isinstance(colormap, str):
        return colormap
    try:
        return _COLORMAPS[int(colormap)]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"colormap {colormap!r} is not one lumos draws; use cv2.COLORMAP_JET, COLORMAP_TURBO, "
                         "COLORMAP_VIRIDIS, COLORMAP_INFERNO or their names") from None


def show_cam_on_image(img, mask, use_rgb=False, colormap=2, image_weight=0.5):
    """pytorch_grad_cam.utils.image.show_cam_on_image: the map as a heatmap blended over the image.

    img: float RGB (or BGR) in [0, 1], [H, W, 3]; lumos also takes uint8 (divided by 255).
    mask: the CAM map [h, w] in [0, 1]; lumos resizes it bilinearly when its size differs.
    use_rgb: False gives a BGR heatmap, as pytorch-grad-cam's default (for cv2.imwrite).
    colormap: cv2.COLORMAP_JET (default), _TURBO, _VIRIDIS, _INFERNO, or a name.
    image_weight: the image's share; the result is uint8 [H, W, 3] with
    cam = (1 - image_weight) * heatmap + image_weight * img; cam / max(cam).
    """
    img = np.asarray(img)
    if img.dtype == np.uint8:
        img = np.float32(img) / 255
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"img is {list(img.shape)}; give an RGB image [H, W, 3]")
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2:
        raise InputError(f"mask is {list(mask.shape)}; give one map [H, W] (cam(...)[i] for image i)")
    if mask.shape != img.shape[:2]:
        mask = _lumos.resize_map(np.ascontiguousarray(mask), img.shape[0], img.shape[1])
    if np.max(img) > 1:
        raise InputError("img must be float RGB in [0, 1] (or uint8); divide it by 255")
    if not 0 <= image_weight <= 1:
        raise InputError(f"image_weight must be in [0, 1], got {image_weight}")
    heatmap = _lumos.colorize(np.ascontiguousarray(mask), _colormap_name(colormap))
    if not use_rgb:
        heatmap = heatmap[..., ::-1]
    heatmap = np.float32(heatmap) / 255
    cam = (1 - image_weight) * heatmap + image_weight * img
    cam = cam / np.max(cam)
    return np.uint8(255 * cam)


def _labels(label_img):
    label_img = np.asarray(label_img)
    if label_img.dtype == bool:
        label_img = label_img.astype(np.int32)
    return label_img


def find_boundaries(label_img, connectivity=1, mode="thick", background=0):
    """skimage.segmentation.find_boundaries (connectivity 1; modes thick, inner, outer): bool [H, W]."""
    if connectivity != 1:
        raise InputError("lumos finds boundaries with connectivity 1 only")
    return _lumos.find_boundaries(_labels(label_img), mode, background).astype(bool)


def mark_boundaries(image, label_img, color=(1, 1, 0), outline_color=None, mode="outer", background_label=0):
    """skimage.segmentation.mark_boundaries: the image as floats with segment boundaries in `color`.

    image: RGB [H, W, 3] or grey [H, W]; uint8 is divided by 255 (uint16 by 65535), floats are
    kept (as skimage's img_as_float). label_img: integer labels [H, W] (LIME's mask or segments).
    mode: "outer" (skimage's default), "inner" or "thick". outline_color: also paint the pixels
    around the boundaries. Returns float64 [H, W, 3] (float32 for a float32 image).
    """
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = image.astype(np.float64) / 65535
    elif image.dtype not in (np.uint8, np.float32, np.float64):
        image = image.astype(np.float64)
    label_img = _labels(label_img)
    if label_img.shape != image.shape[:2]:
        raise InputError(f"label_img is {list(label_img.shape)} but the image is {list(image.shape)}; "
                         "they must have the same height and width")
    if mode == "subpixel":
        raise InputError("mode 'subpixel' is not drawn by lumos; use 'outer', 'inner' or 'thick'")
    marked = _lumos.mark_boundaries(np.ascontiguousarray(image), label_img, [float(c) for c in color], mode,
                                    int(background_label))
    if outline_color is not None:
        boundaries = find_boundaries(label_img, mode=mode, background=background_label)
        padded = np.pad(boundaries, 1)
        outlines = np.zeros_like(boundaries)
        for dr in range(3):  # a 3x3 dilation, as skimage's square(3)
            for dc in range(3):
                outlines |= padded[dr:dr + boundaries.shape[0], dc:dc + boundaries.shape[1]]
        marked[outlines] = outline_color
        marked[boundaries] = color
    return marked.astype(np.float32) if image.dtype == np.float32 else marked
