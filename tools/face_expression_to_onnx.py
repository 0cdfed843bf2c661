#!/usr/bin/env python3
"""Converts face-api's face-expression classifier (TF.js weight shards) into ONNX.

The network is defined in @vladmandic/face-api's source (faceFeatureExtractor/,
faceExpressionNet/): four dense blocks of depthwise-separable convolutions on a
112x112 RGB face crop, a 7x7 average pool and a fully connected layer over 7
expressions. This script rebuilds that graph in ONNX, laid out as tf2onnx lays out
Keras models (NHWC input, Transpose to NCHW, SAME_UPPER padding), so lumos runs it
like any exported Keras classifier. The input is the raw 0..255 RGB crop: the
network's own normalisation (mean subtraction, /255) is part of the graph.

usage: face_expression_to_onnx.py PACKAGE_DIR OUT.onnx
  PACKAGE_DIR: the unpacked npm package (the folder holding model/)
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
MEAN_RGB = [122.782, 117.001, 104.298]
INPUT_SIZE = 112


def read_weights(model_dir: Path, name: str) -> dict:
    """Dequantised weights by name, read from the manifest's shards in order."""
    manifest = json.loads((model_dir / f"{name}-weights_manifest.json").read_text())
    weights = {}
    for group in manifest:
        data = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"]))
            quant = spec.get("quantization")
            if quant:
                dtype = np.dtype(quant["dtype"])
                raw = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
                values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
                offset += count * dtype.itemsize
            else:
                values = np.frombuffer(data, dtype=np.float32, count=count, offset=offset)
                offset += count * 4
            weights[spec["name"]] = values.reshape(spec["shape"]).astype(np.float32)
        if offset != len(data):
            raise ValueError(f"{name}: shards hold {len(data)} bytes, the manifest describes {offset}")
    return weights


class GraphBuilder:
    def __init__(self, weights):
        self.weights = weights
        self.nodes = []
        self.initializers = []

    def const(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(self, x, prefix, stride):
        # TF.js filters are [kh, kw, in, out]; ONNX wants [out, in, kh, kw].
        w = self.const(f"{prefix}/filters", self.weights[f"{prefix}/filters"].transpose(3, 2, 0, 1))
        b = self.const(f"{prefix}/bias", self.weights[f"{prefix}/bias"])
        return self.node("Conv", [x, w, b], f"{prefix}/conv", kernel_shape=[3, 3],
                         strides=[stride, stride], auto_pad="SAME_UPPER")

    def separable_conv(self, x, prefix, stride):
        depthwise = self.weights[f"{prefix}/depthwise_filter"]  # [kh, kw, C, 1]
        channels = depthwise.shape[2]
        dw = self.const(f"{prefix}/depthwise_filter", depthwise.transpose(2, 3, 0, 1))
        pw = self.const(f"{prefix}/pointwise_filter", self.weights[f"{prefix}/pointwise_filter"].transpose(3, 2, 0, 1))
        b = self.const(f"{prefix}/bias", self.weights[f"{prefix}/bias"])
        y = self.node("Conv", [x, dw], f"{prefix}/depthwise", kernel_shape=[3, 3], strides=[stride, stride],
                      group=channels, auto_pad="SAME_UPPER")
        return self.node("Conv", [y, pw, b], f"{prefix}/pointwise", kernel_shape=[1, 1])

    def dense_block4(self, x, prefix, first):
        """out1..out4 with dense residual sums, as faceFeatureExtractor/denseBlock.ts."""
        conv0 = self.conv(x, f"{prefix}/conv0", 2) if first else self.separable_conv(x, f"{prefix}/conv0", 2)
        out1 = self.node("Relu", [conv0], f"{prefix}/out1")
        out2 = self.separable_conv(out1, f"{prefix}/conv1", 1)
        sum2 = self.node("Add", [out1, out2], f"{prefix}/sum2")
        in3 = self.node("Relu", [sum2], f"{prefix}/in3")
        out3 = self.separable_conv(in3, f"{prefix}/conv2", 1)
        sum3 = self.node("Add", [sum2, out3], f"{prefix}/sum3")
        in4 = self.node("Relu", [sum3], f"{prefix}/in4")
        out4 = self.separable_conv(in4, f"{prefix}/conv3", 1)
        sum4 = self.node("Add", [sum3, out4], f"{prefix}/sum4")
        return self.node("Relu", [sum4], f"{prefix}/output")


def build(package_dir: Path) -> onnx.ModelProto:
    weights = read_weights(package_dir / "model", "face_expression_model")
    g = GraphBuilder(weights)
    x = g.node("Transpose", ["image"], "to_nchw", perm=[0, 3, 1, 2])
    x = g.node("Sub", [x, g.const("mean_rgb", np.array(MEAN_RGB).reshape(1, 3, 1, 1))], "subtract_mean")
    x = g.node("Div", [x, g.const("scale", np.array(255.0))], "normalised")
    for i in range(4):
        x = g.dense_block4(x, f"dense{i}", first=i == 0)
    x = g.node("AveragePool", [x], "avg_pool", kernel_shape=[7, 7], strides=[2, 2])
    x = g.node("Flatten", [x], "features", axis=1)
    x = g.node("MatMul", [x, g.const("fc/weights", weights["fc/weights"])], "fc/matmul")
    x = g.node("Add", [x, g.const("fc/bias", weights["fc/bias"])], "logits")
    g.node("Softmax", [x], "expression", axis=1)

    graph = helper.make_graph(
        g.nodes, "face_expression",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", INPUT_SIZE, INPUT_SIZE, 3])],
        [helper.make_tensor_value_info("expression", TensorProto.FLOAT, ["N", len(LABELS)])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="lumos face_expression_to_onnx")
    model.ir_version = 8
    helper.set_model_props(model, {
        "labels": ",".join(LABELS),
        "preprocess": "raw",
        # The last block is 7x7: one cell spans 16 px of the 112 px face, too coarse to
        # tell the mouth from the eyes. The 14x14 block before it localises features.
        "cam_layer": "dense2/output",
        "source": "@vladmandic/face-api@1.7.15 model/face_expression_model (MIT licence)",
    })
    onnx.checker.check_model(model)
    return model


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model = build(Path(sys.argv[1]))
    out = Path(sys.argv[2])
    tmp = out.with_suffix(".tmp")
    onnx.save(model, tmp)
    tmp.replace(out)


if __name__ == "__main__":
    main()
