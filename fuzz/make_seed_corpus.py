"""Writes the fuzzers' seed corpora into fuzz/corpus/<harness>/ (committed; rerun after
adding an op or a format):

  onnx_model/  one small graph per op lumos runs (each opset form), and small classifiers
               in the shapes lumos loads (NCHW with Softmax, NHWC with Sigmoid, fixed
               batch, open size, external data)
  image/       tiny images in every format and variant lumos decodes
  npy/         arrays of every dtype lumos reads, format versions 1.0 and 2.0

Usage: /usr/bin/python3 fuzz/make_seed_corpus.py
"""
import io
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
X = [1, 3, 4, 4]


def tensor(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def value(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def model(nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "seed", inputs, outputs, list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def onnx_seeds():
    seeds = {}
    x, y = value("x", X), value("y", None)
    unary = ["Relu", "Sigmoid", "Tanh", "Erf", "Softplus", "Softsign", "LeakyRelu", "Elu", "Selu", "HardSigmoid",
             "Neg", "Abs", "Sqrt", "Exp", "Log", "Reciprocal", "Floor", "Ceil", "Sin", "Cos", "Tan", "Asin", "Acos",
             "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Identity", "Softmax", "LogSoftmax", "Hardmax",
             "Shape", "Size", "Flatten", "Transpose", "Sign", "Round", "GlobalAveragePool", "GlobalMaxPool",
             "GlobalLpPool"]
    for op in unary:
        seeds[op] = model([helper.make_node(op, ["x"], ["y"])], [x], [y])
    seeds["Softmax_opset11"] = model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], [x], [y], opset=11)
    seeds["HardSwish"] = model([helper.make_node("HardSwish", ["x"], ["y"])], [x], [y], opset=14)
    seeds["Celu"] = model([helper.make_node("Celu", ["x"], ["y"], alpha=0.5)], [x], [y])
    seeds["ThresholdedRelu"] = model([helper.make_node("ThresholdedRelu", ["x"], ["y"], alpha=0.2)], [x], [y])
    seeds["Not"] = model([helper.make_node("Not", ["x"], ["y"])], [value("x", X, TensorProto.BOOL)], [y])
    seeds["Cast"] = model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT64)], [x], [y])
    seeds["Dropout"] = model([helper.make_node("Dropout", ["x"], ["y", "mask"])], [x], [y, value("mask", None)])
    seeds["Dropout_training"] = model(
        [helper.make_node("Dropout", ["x", "r", "t"], ["y"])], [x], [y],
        [tensor("r", 0.5), tensor("t", True, np.bool_)])
    seeds["Clip6"] = model([helper.make_node("Clip", ["x"], ["y"], min=0.0, max=6.0)], [x], [y], opset=6)
    seeds["Clip13"] = model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [x], [y],
                            [tensor("lo", 0.0), tensor("hi", 6.0)])

    binary = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater",
              "LessOrEqual", "GreaterOrEqual", "PRelu", "CastLike", "MatMul"]
    x2 = value("x2", [1, 3, 4, 4])
    for op in binary:
        seeds[op] = model([helper.make_node(op, ["x", "x2"], ["y"])], [x, x2], [y])
    seeds["Mod"] = model([helper.make_node("Mod", ["x", "x2"], ["y"], fmod=1)], [x, x2], [y])
    b, b2 = value("b", X, TensorProto.BOOL), value("b2", X, TensorProto.BOOL)
    for op in ["And", "Or", "Xor"]:
        seeds[op] = model([helper.make_node(op, ["b", "b2"], ["y"])], [b, b2], [y])
    seeds["Where"] = model([helper.make_node("Where", ["b", "x", "x2"], ["y"])], [b, x, x2], [y])

    w = tensor("w", np.linspace(-1, 1, 4 * 3 * 3 * 3).reshape(4, 3, 3, 3))
    bias = tensor("bias", [0.1, -0.1, 0.2, 0.0])
    seeds["Conv"] = model([helper.make_node("Conv", ["x", "w", "bias"], ["y"], pads=[1, 1, 1, 1], strides=[2, 1])],
                          [x], [y], [w, bias])
    seeds["Conv_group"] = model([helper.make_node("Conv", ["x", "wg"], ["y"], group=3, auto_pad="SAME_UPPER")], [x],
                                [y], [tensor("wg", np.ones((3, 1, 2, 2)))])
    seeds["ConvTranspose"] = model(
        [helper.make_node("ConvTranspose", ["x", "wt"], ["y"], strides=[2, 2], output_padding=[1, 1])], [x], [y],
        [tensor("wt", np.ones((3, 2, 3, 3)))])
    seeds["Gemm"] = model([helper.make_node("Gemm", ["m", "g", "c"], ["y"], transB=1, alpha=0.5)],
                          [value("m", [2, 3])], [y], [tensor("g", np.ones((4, 3))), tensor("c", np.ones(4))])
    stats = [tensor(n, v) for n, v in (("s", [1, 2, 3]), ("o", [0, 1, 0]), ("mu", [0, 0, 1]), ("var", [1, 1, 2]))]
    seeds["BatchNormalization"] = model(
        [helper.make_node("BatchNormalization", ["x", "s", "o", "mu", "var"], ["y"])], [x], [y], stats)
    seeds["BatchNormalization_training"] = model(
        [helper.make_node("BatchNormalization", ["x", "s", "o", "mu", "var"], ["y", "rm", "rv"], training_mode=1)],
        [x], [y, value("rm", None), value("rv", None)], stats, opset=15)
    seeds["InstanceNormalization"] = model(
        [helper.make_node("InstanceNormalization", ["x", "s", "o"], ["y"])], [x], [y], stats[:2])
    seeds["LayerNormalization"] = model(
        [helper.make_node("LayerNormalization", ["x", "ln"], ["y", "mean", "inv"], axis=2)], [x],
        [y, value("mean", None), value("inv", None)], [tensor("ln", np.ones((4, 4)))], opset=17)
    seeds["LRN"] = model([helper.make_node("LRN", ["x"], ["y"], size=3)], [x], [y])
    seeds["MaxPool"] = model(
        [helper.make_node("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2, 2], pads=[0, 0, 1, 1], ceil_mode=1)], [x],
        [y, value("idx", None)])
    seeds["AveragePool"] = model(
        [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])], [x],
        [y])
    seeds["LpPool"] = model([helper.make_node("LpPool", ["x"], ["y"], kernel_shape=[2, 2], p=3)], [x], [y])
    seeds["Pad2"] = model([helper.make_node("Pad", ["x"], ["y"], pads=[0, 0, 1, -1, 0, 0, 2, 1], mode="reflect")],
                          [x], [y], opset=2)
    seeds["Pad13"] = model([helper.make_node("Pad", ["x", "pads", "v"], ["y"], mode="edge")], [x], [y],
                           [tensor("pads", [0, 0, 1, 2, 0, 0, 2, 1], np.int64), tensor("v", 1.5)])
    seeds["Pad18"] = model([helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"])], [x], [y],
                           [tensor("pads", [1, 2, 3, 4], np.int64), tensor("axes", [2, -1], np.int64)], opset=18)
    seeds["Resize_scales"] = model(
        [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear", coordinate_transformation_mode="align_corners")],
        [x], [y], [tensor("scales", [1, 1, 2, 1.5])])
    seeds["Resize_sizes"] = model(
        [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="cubic", exclude_outside=1)], [x], [y],
        [tensor("sizes", [1, 3, 7, 3], np.int64)])
    seeds["Resize10"] = model([helper.make_node("Resize", ["x", "scales"], ["y"])], [x], [y],
                              [tensor("scales", [1, 1, 2, 2])], opset=10)
    seeds["Upsample9"] = model([helper.make_node("Upsample", ["x", "scales"], ["y"])], [x], [y],
                               [tensor("scales", [1, 1, 2, 2])], opset=9)
    seeds["Concat"] = model([helper.make_node("Concat", ["x", "x2"], ["y"], axis=-1)], [x, x2], [y])
    seeds["Split13"] = model([helper.make_node("Split", ["x", "parts"], ["y", "z"], axis=1)], [x],
                             [y, value("z", None)], [tensor("parts", [1, 2], np.int64)])
    seeds["Split18"] = model([helper.make_node("Split", ["x"], ["y", "z"], axis=2, num_outputs=2)], [x],
                             [y, value("z", None)], opset=18)
    seeds["Slice"] = model([helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], [x], [y],
                           [tensor(n, v, np.int64) for n, v in (("st", [3, 0]), ("en", [-100, 9]),
                                                                 ("ax", [3, 1]), ("sp", [-2, 2]))])
    seeds["Slice1"] = model([helper.make_node("Slice", ["x"], ["y"], starts=[1], ends=[3], axes=[2])], [x], [y],
                            opset=9)
    idx = value("i", [2, 2], TensorProto.INT64)
    seeds["Gather"] = model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], [x, idx], [y])
    seeds["GatherElements"] = model([helper.make_node("GatherElements", ["x", "gi"], ["y"], axis=3)], [x], [y],
                                    [tensor("gi", np.zeros((1, 3, 4, 2)), np.int64)])
    seeds["Compress"] = model([helper.make_node("Compress", ["x", "c"], ["y"], axis=2)], [x], [y],
                              [tensor("c", [True, False, True], np.bool_)])
    seeds["Reshape"] = model([helper.make_node("Reshape", ["x", "shape"], ["y"])], [x], [y],
                             [tensor("shape", [0, -1, 2], np.int64)])
    seeds["Expand"] = model([helper.make_node("Expand", ["x", "shape"], ["y"])], [x], [y],
                            [tensor("shape", [2, 1, 1, 1], np.int64)])
    seeds["Tile"] = model([helper.make_node("Tile", ["x", "r"], ["y"])], [x], [y],
                          [tensor("r", [1, 2, 1, 3], np.int64)])
    seeds["Squeeze"] = model([helper.make_node("Squeeze", ["x", "axes"], ["y"])], [x], [y],
                             [tensor("axes", [0], np.int64)])
    seeds["Unsqueeze"] = model([helper.make_node("Unsqueeze", ["x", "axes"], ["y"])], [x], [y],
                               [tensor("axes", [-1, 1], np.int64)])
    seeds["Squeeze11"] = model([helper.make_node("Squeeze", ["x"], ["y"], axes=[0])], [x], [y], opset=11)
    seeds["Range"] = model([helper.make_node("Range", ["a", "l", "d"], ["y"])], [], [y],
                           [tensor("a", 1.0), tensor("l", 9.0), tensor("d", 2.5)])
    seeds["ConstantOfShape"] = model([helper.make_node("ConstantOfShape", ["shape"], ["y"],
                                                       value=tensor("", [7], np.int64))], [], [y],
                                     [tensor("shape", [2, 3], np.int64)])
    seeds["EyeLike"] = model([helper.make_node("EyeLike", ["m"], ["y"], k=1)], [value("m", [3, 4])], [y])
    seeds["Constant"] = model([helper.make_node("Constant", [], ["y"], value_floats=[1.0, 2.0])], [], [y])
    for op in ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]:
        seeds[op + "11"] = model([helper.make_node(op, ["x"], ["y"], axes=[1, -1], keepdims=0)], [x], [y], opset=11)
        seeds[op + "18"] = model([helper.make_node(op, ["x", "axes"], ["y"])], [x], [y],
                                 [tensor("axes", [2], np.int64)], opset=18)
    seeds["ArgMax"] = model([helper.make_node("ArgMax", ["x"], ["y"], axis=1, select_last_index=1)], [x], [y])
    seeds["ArgMin"] = model([helper.make_node("ArgMin", ["x"], ["y"], keepdims=0)], [x], [y])

    # Classifiers in the shapes lumos loads as a Model.
    head = [helper.make_node("Conv", ["x", "w", "bias"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"])]
    seeds["classifier_softmax"] = model(head + [helper.make_node("Softmax", ["f"], ["y"])],
                                        [value("x", ["N", 3, 8, 8])], [value("y", ["N", 4])], [w, bias])
    seeds["classifier_fixed_batch"] = model(head + [helper.make_node("Identity", ["f"], ["y"])],
                                            [value("x", [2, 3, 8, 8])], [value("y", [2, 4])], [w, bias])
    seeds["classifier_open_size"] = model(head + [helper.make_node("Sigmoid", ["f"], ["y"])],
                                          [value("x", ["N", 3, "H", "W"])], [value("y", ["N", 4])], [w, bias])
    seeds["classifier_nhwc"] = model(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2])] +
        [helper.make_node("Conv", ["t", "w", "bias"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("ReduceMean", ["r"], ["p"], axes=[2, 3], keepdims=0),
         helper.make_node("Gemm", ["p", "fc"], ["y"], transB=1)],
        [value("x", [1, 6, 6, 3])], [value("y", [1, 2])], [w, bias, tensor("fc", np.ones((2, 4)))])
    external = tensor("w", np.zeros((4, 3, 3, 3)))
    external.ClearField("raw_data")
    external.data_location = TensorProto.EXTERNAL
    for key, v in (("location", "weights.bin"), ("offset", "0"), ("length", "432")):
        entry = external.external_data.add()
        entry.key, entry.value = key, v
    seeds["classifier_external_data"] = model(head + [helper.make_node("Identity", ["f"], ["y"])],
                                              [value("x", ["N", 3, 8, 8])], [value("y", ["N", 4])],
                                              [external, bias])
    return seeds


def encoded(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def image_seeds():
    rng = np.random.default_rng(5)
    rgb = Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), "RGB")
    rgba = Image.fromarray(rng.integers(0, 256, (6, 5, 4), dtype=np.uint8), "RGBA")
    grey = Image.fromarray(rng.integers(0, 256, (6, 5), dtype=np.uint8), "L")
    grey16 = Image.fromarray(rng.integers(0, 65536, (6, 5), dtype=np.uint16).astype(np.uint16), "I;16")
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "rgb.png": encoded(rgb, "PNG"), "rgba.png": encoded(rgba, "PNG"), "grey16.png": encoded(grey16, "PNG"),
        "palette.png": encoded(rgb.convert("P"), "PNG"), "interlaced.png": encoded(rgb, "PNG", interlace=1),
        "rgb.jpg": encoded(rgb, "JPEG", quality=90), "grey.jpg": encoded(grey, "JPEG"),
        "progressive.jpg": encoded(rgb, "JPEG", progressive=True), "exif.jpg": encoded(rgb, "JPEG", exif=exif.tobytes()),
        "rgb.bmp": encoded(rgb, "BMP"), "palette.bmp": encoded(rgb.convert("P"), "BMP"),
        "rgb.tif": encoded(rgb, "TIFF"), "deflate.tif": encoded(rgb, "TIFF", compression="tiff_adobe_deflate"),
        "lossless.webp": encoded(rgba, "WEBP", lossless=True), "lossy.webp": encoded(rgb, "WEBP", quality=50),
        "rgb.ppm": encoded(rgb, "PPM"), "grey.pgm": encoded(grey, "PPM"),
        "ascii.pgm": b"P2\n# comment\n3 2\n255\n0 128 255\n1 2 3\n", "bits.pbm": b"P1\n4 2\n0 1 0 1\n1 1 0 0\n",
    }


def npy_seeds():
    seeds = {}
    for name, array in (("f4", np.arange(6, dtype="<f4").reshape(2, 3)), ("f8", np.array([1.5, -2.0])),
                        ("i8", np.arange(4, dtype="<i8")), ("i4", np.array([[1], [2]], dtype="<i4")),
                        ("u1", np.array(7, dtype=np.uint8)), ("b1", np.array([True, False])),
                        ("empty", np.zeros((0, 3), dtype="<f4"))):
        buffer = io.BytesIO()
        np.save(buffer, array)
        seeds[name + ".npy"] = buffer.getvalue()
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ones((2, 2), dtype="<f4"), version=(2, 0))
    seeds["v2.npy"] = buffer.getvalue()
    return seeds


def main():
    for harness, seeds in (("onnx_model", {k + ".onnx": v for k, v in onnx_seeds().items()}), ("image", image_seeds()),
                           ("npy", npy_seeds())):
        folder = os.path.join(HERE, "corpus", harness)
        kept = [f for f in os.listdir(folder) if f.startswith("regression_")] if os.path.isdir(folder) else []
        for f in os.listdir(folder) if os.path.isdir(folder) else []:
            if f not in kept:
                os.remove(os.path.join(folder, f))
        os.makedirs(folder, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(folder, "seed_" + name), "wb") as f:
                f.write(data)
        print(f"{harness}: {len(seeds)} seeds, {len(kept)} regression inputs")


if __name__ == "__main__":
    main()
