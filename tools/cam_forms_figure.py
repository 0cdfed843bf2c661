"""The picture in docs/cam.md: Grad-CAM and Grad-CAM++ as pytorch-grad-cam computes them beside
the forms of Keras code, on the bundled face-expression model, with their absolute difference.

Usage: /usr/bin/python3 tools/cam_forms_figure.py LUMOS OUT.png [IMAGE] [MODEL]
  LUMOS  the lumos binary (build/lumos); IMAGE defaults to samples/faces/astronaut.png and
  MODEL to lumos's bundled face-expression model. Runs `lumos explain --format npy` and lays
  the maps out in two rows (Grad-CAM, Grad-CAM++): pytorch-grad-cam | Keras | |difference|.
"""
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

SIDE = 224  # display size of each panel
ROWS = [("gradcam", "Grad-CAM"), ("gradcam++", "Grad-CAM++")]


def label(panel, text):
    out = cv2.copyMakeBorder(panel, 26, 0, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    cv2.putText(out, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def overlay(photo, heat):
    colours = cv2.applyColorMap(np.uint8(np.round(255 * heat)), cv2.COLORMAP_JET)
    return np.uint8(np.round(0.5 * photo + 0.5 * colours))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    lumos, out = sys.argv[1], sys.argv[2]
    image = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "..", "samples", "faces",
                                                                "astronaut.png")
    with tempfile.TemporaryDirectory() as tmp:
        command = [lumos, "explain", "-i", image, "--method", "gradcam,gradcam-keras,gradcam++,gradcam++-keras",
                   "--format", "npy", "--out", tmp]
        if len(sys.argv) > 4:
            command += ["-m", sys.argv[4]]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        folder = os.path.join(tmp, os.path.splitext(os.path.basename(image))[0])
        maps = {f.rsplit("_", 1)[0]: np.load(os.path.join(folder, f)) for f in os.listdir(folder) if f.endswith(".npy")}
        target = next(f for f in os.listdir(folder) if f.startswith("gradcam_")).rsplit("_", 1)[1][:-4]
        photo = cv2.resize(cv2.imread(image), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    rows = []
    for key, title in ROWS:
        ours, keras = (cv2.resize(maps[k], (SIDE, SIDE)) for k in (key, key + "-keras"))
        difference = np.abs(ours - keras)
        rows.append(np.hstack([
            label(photo, f"image ({target})"),
            label(overlay(photo, ours), f"{title}, pytorch-grad-cam"),
            label(overlay(photo, keras), f"{title}, Keras"),
            label(cv2.applyColorMap(np.uint8(np.round(255 * difference)), cv2.COLORMAP_JET),
                  f"|difference|, max {difference.max():.2f}"),
        ]))
    cv2.imwrite(out, np.vstack(rows))


if __name__ == "__main__":
    main()
