"""Per-convolution candidates for lumos's inference plan (issue 15), in one process, interleaved.

Usage: /usr/bin/python3 bench/conv_pack_bench.py MODEL BATCH REPEATS   (e.g. mobilenet_v2 32 3)
For every Conv2d of the torchvision MODEL (shapes from one batch-1 forward), at BATCH, times the
same calls LibTorch 1.13 offers lumos from C++, on a channels-last input:
  aten_cl            at::conv2d (what the channels-last plan runs)
  prepacked_cl       mkldnn_prepacked::conv2d_run, weight packed once (the packed plan)
  mkldnn_blocked     at::mkldnn_convolution on oneDNN blocked tensors with a reordered weight
                     (what torch.jit.optimize_for_inference's graphs run)
  aten_cl_relu / prepacked_cl_relu   the same followed by a ReLU (in place / fused)
Prints each shape's minimum over REPEATS in ms per image, the largest difference from at::conv2d,
and the sums over the network.
"""
import sys
import time

import torch
import torchvision

torch.set_num_threads(2)
name, batch, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = getattr(torchvision.models, name)().eval()
shapes = []
hooks = [m.register_forward_hook(lambda mod, inp, out: shapes.append((mod, tuple(inp[0].shape))))
         for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
with torch.no_grad():
    model(torch.randn(1, 3, 224, 224))
for hook in hooks:
    hook.remove()


def best_of(call):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


totals = {}
with torch.inference_mode():
    for conv, shape in shapes:
        shape = (batch,) + shape[1:]
        x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
        w = conv.weight.detach().contiguous(memory_format=torch.channels_last)
        b = torch.randn(w.shape[0])
        window = (list(conv.stride), list(conv.padding), list(conv.dilation), conv.groups)
        plain = lambda: torch.conv2d(x, w, b, conv.stride, conv.padding, conv.dilation, conv.groups)
        packed = torch.ops.mkldnn_prepacked.conv2d_prepack(w, b, *window, list(shape), "none")
        packed_relu = torch.ops.mkldnn_prepacked.conv2d_prepack(w, b, *window, list(shape), "relu")
        x_blocked = x.contiguous().to_mkldnn()
        w_blocked = torch._C._nn.mkldnn_reorder_conv2d_weight(conv.weight.detach().to_mkldnn(), list(conv.padding),
                                                              list(conv.stride), list(conv.dilation), conv.groups)
        blocked = lambda: torch.mkldnn_convolution(x_blocked, w_blocked, b, conv.padding, conv.stride,
                                                   conv.dilation, conv.groups)
        times = {
            "aten_cl": best_of(plain),
            "prepacked_cl": best_of(lambda: torch.ops.mkldnn_prepacked.conv2d_run(x, packed)),
            "mkldnn_blocked": best_of(blocked),
            "aten_cl_relu": best_of(lambda: plain().relu_()),
            "prepacked_cl_relu": best_of(lambda: torch.ops.mkldnn_prepacked.conv2d_run(x, packed_relu)),
        }
        reference = plain()
        error = max((torch.ops.mkldnn_prepacked.conv2d_run(x, packed) - reference).abs().max().item(),
                    (blocked().to_dense() - reference).abs().max().item())
        for key, seconds in times.items():
            totals[key] = totals.get(key, 0.0) + seconds
        print(shape, tuple(w.shape), conv.stride, conv.groups,
              " ".join(f"{k}={v * 1e3 / batch:.2f}" for k, v in times.items()), f"maxerr={error:.1e}", flush=True)
print(name, "batch", batch, "total ms/img:", " ".join(f"{k}={v * 1e3 / batch:.2f}" for k, v in totals.items()))
