#!/usr/bin/env python3
"""Converts a Keras model saved in TF.js layers format into ONNX.

Reads model.json (or a browserify-bundled model.min.js, as nsfwjs ships it, through
node) and its weight shards, and writes an ONNX graph laid out as tf2onnx lays out
Keras models: NHWC input, one Transpose to NCHW, NCHW convolutions, a Transpose back
before Flatten so Dense weights see Keras's (H, W, C) order. Layers covered: InputLayer,
Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, Activation, ZeroPadding2D, Add,
Concatenate, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Dense,
Dropout. Anything else is an error naming the layer.

usage: tfjs_layers_to_onnx.py MODEL_DIR OUT.onnx [--labels a,b,c] [--preprocess NAME] [--source TEXT]
"""
import argparse
import base64
import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def load_js_module(path: Path):
    """The value a bundled .js module exports (nsfwjs wraps JSON and shards in JS)."""
    script = "process.stdout.write(JSON.stringify(require(process.argv[1])))"
    out = subprocess.run(["node", "-e", script, str(path.resolve())], check=True, capture_output=True)
    return json.loads(out.stdout)


def load_model(model_dir: Path):
    """(topology, weights by name) from model.json + .bin shards or model.min.js + .min.js shards."""
    if (model_dir / "model.json").exists():
        model = json.loads((model_dir / "model.json").read_text())
        read_shard = lambda name: (model_dir / name).read_bytes()  # noqa: E731
    else:
        model = load_js_module(model_dir / "model.min.js")
        read_shard = lambda name: base64.b64decode(load_js_module(model_dir / f"{name}.min.js"))  # noqa: E731
    weights = {}
    for group in model["weightsManifest"]:
        data = b"".join(read_shard(p) for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"]))
            quant = spec.get("quantization")
            dtype = np.dtype(quant["dtype"] if quant else spec["dtype"])
            values = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            offset += count * dtype.itemsize
            if quant:
                values = values.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
            weights[spec["name"]] = values.reshape(spec["shape"]).astype(np.float32)
        if offset != len(data):
            raise ValueError(f"weight shards hold {len(data)} bytes, the manifest describes {offset}")
    topology = model["modelTopology"]
    return topology.get("model_config", topology)["config"], weights


class Converter:
    def __init__(self, weights):
        self.weights = weights
        self.nodes = []
        self.initializers = []
        self.tensor = {}  # Keras layer name -> ONNX value name (NCHW for 4-D values)

    def const(self, name, array, dtype=np.float32):
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def weight(self, layer, kind):
        return self.weights[f"{layer}/{kind}"]

    def activation(self, x, name, kind):
        ops = {"linear": None, "relu": "Relu", "sigmoid": "Sigmoid", "softmax": "Softmax", "tanh": "Tanh"}
        if kind not in ops:
            raise ValueError(f"layer {name}: activation '{kind}' is not supported")
        if ops[kind] is None:
            return x
        attrs = {"axis": 1} if kind == "softmax" else {}
        return self.node(ops[kind], [x], f"{name}/{kind}", **attrs)

    def padding(self, cfg):
        if cfg["padding"] == "same":
            return {"auto_pad": "SAME_UPPER"}
        if cfg["padding"] == "valid":
            return {"auto_pad": "VALID"}
        raise ValueError(f"layer {cfg['name']}: padding '{cfg['padding']}' is not supported")

    def layer(self, kind, cfg, inputs):
        name = cfg["name"]
        if kind in ("Conv2D", "DepthwiseConv2D"):
            x = inputs[0]
            if kind == "Conv2D":
                w = self.weight(name, "kernel").transpose(3, 2, 0, 1)  # [kh,kw,in,out] -> [out,in,kh,kw]
                group = 1
            else:
                k = self.weight(name, "depthwise_kernel")  # [kh,kw,C,mult] -> [C*mult,1,kh,kw]
                group = k.shape[2]
                w = k.transpose(2, 3, 0, 1).reshape(k.shape[2] * k.shape[3], 1, k.shape[0], k.shape[1])
            args = [x, self.const(f"{name}/W", w)]
            if cfg.get("use_bias", True):
                args.append(self.const(f"{name}/B", self.weight(name, "bias")))
            y = self.node("Conv", args, name, kernel_shape=list(cfg["kernel_size"]), strides=list(cfg["strides"]),
                          dilations=list(cfg["dilation_rate"]), group=group, **self.padding(cfg))
            return self.activation(y, name, cfg.get("activation", "linear"))
        if kind == "BatchNormalization":
            channels = self.weight(name, "moving_mean").shape[0]
            gamma = self.weight(name, "gamma") if cfg.get("scale", True) else np.ones(channels)
            beta = self.weight(name, "beta") if cfg.get("center", True) else np.zeros(channels)
            args = [inputs[0], self.const(f"{name}/scale", gamma), self.const(f"{name}/bias", beta),
                    self.const(f"{name}/mean", self.weight(name, "moving_mean")),
                    self.const(f"{name}/var", self.weight(name, "moving_variance"))]
            return self.node("BatchNormalization", args, name, epsilon=float(cfg["epsilon"]))
        if kind == "ReLU":
            if cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
                raise ValueError(f"layer {name}: ReLU with negative_slope/threshold is not supported")
            if cfg.get("max_value") is None:
                return self.node("Relu", inputs, name)
            bounds = [self.const(f"{name}/min", 0.0), self.const(f"{name}/max", float(cfg["max_value"]))]
            return self.node("Clip", inputs + bounds, name)
        if kind == "Activation":
            return self.activation(inputs[0], name, cfg["activation"])
        if kind == "ZeroPadding2D":
            (top, bottom), (left, right) = cfg["padding"]
            pads = self.const(f"{name}/pads", [0, 0, top, left, 0, 0, bottom, right], np.int64)
            return self.node("Pad", [inputs[0], pads], name, mode="constant")
        if kind == "Add":
            y = inputs[0]
            for i, other in enumerate(inputs[1:]):
                y = self.node("Add", [y, other], name if i == len(inputs) - 2 else f"{name}/{i}")
            return y
        if kind == "Concatenate":
            if cfg["axis"] not in (-1, 3):
                raise ValueError(f"layer {name}: Concatenate on axis {cfg['axis']} is not supported")
            return self.node("Concat", inputs, name, axis=1)
        if kind in ("MaxPooling2D", "AveragePooling2D"):
            op = "MaxPool" if kind == "MaxPooling2D" else "AveragePool"
            # Keras's 'same' average pooling divides by the valid (unpadded) count.
            return self.node(op, inputs, name, kernel_shape=list(cfg["pool_size"]), strides=list(cfg["strides"]),
                             **self.padding(cfg))
        if kind == "GlobalAveragePooling2D":
            pooled = self.node("GlobalAveragePool", inputs, f"{name}/pool")
            return self.node("Flatten", [pooled], name, axis=1)
        if kind == "Flatten":
            nhwc = self.node("Transpose", inputs, f"{name}/to_nhwc", perm=[0, 2, 3, 1])
            return self.node("Flatten", [nhwc], name, axis=1)
        if kind == "Dense":
            y = self.node("MatMul", [inputs[0], self.const(f"{name}/W", self.weight(name, "kernel"))], f"{name}/matmul")
            if cfg.get("use_bias", True):
                y = self.node("Add", [y, self.const(f"{name}/B", self.weight(name, "bias"))], name)
            return self.activation(y, name, cfg.get("activation", "linear"))
        if kind == "Dropout":
            return inputs[0]
        raise ValueError(f"layer {name}: Keras layer type {kind} is not supported")

    def convert(self, config):
        if len(config["input_layers"]) != 1 or len(config["output_layers"]) != 1:
            raise ValueError("only models with one input and one output are supported")
        output_name = None
        for layer in config["layers"]:
            kind, cfg = layer["class_name"], layer["config"]
            if kind == "InputLayer":
                shape = cfg["batch_input_shape"]
                graph_input = helper.make_tensor_value_info(cfg["name"], TensorProto.FLOAT, ["N"] + shape[1:])
                self.tensor[layer["name"]] = self.node("Transpose", [cfg["name"]], f"{cfg['name']}/to_nchw",
                                                       perm=[0, 3, 1, 2])
                continue
            inbound = layer["inbound_nodes"]
            if len(inbound) != 1:
                raise ValueError(f"layer {layer['name']}: shared layers are not supported")
            inputs = [self.tensor[source[0]] for source in inbound[0]]
            self.tensor[layer["name"]] = self.layer(kind, cfg, inputs)
        output_name = self.tensor[config["output_layers"][0][0]]
        return graph_input, output_name


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--labels", default="")
    parser.add_argument("--preprocess", default="")
    parser.add_argument("--source", default="")
    args = parser.parse_args()

    config, weights = load_model(args.model_dir)
    converter = Converter(weights)
    graph_input, output = converter.convert(config)
    units = [layer["config"].get("units") for layer in config["layers"] if layer["name"] == config["output_layers"][0][0]]
    graph_output = helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", units[0] if units[0] else "classes"])
    graph = helper.make_graph(converter.nodes, config.get("name", "keras_model"), [graph_input], [graph_output],
                              converter.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="lumos tfjs_layers_to_onnx")
    model.ir_version = 8
    props = {k: v for k, v in (("labels", args.labels), ("preprocess", args.preprocess), ("source", args.source)) if v}
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    tmp = args.out.with_suffix(".tmp")
    onnx.save(model, tmp)
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
