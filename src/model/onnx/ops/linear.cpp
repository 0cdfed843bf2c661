// Matrix products: Gemm and MatMul.
#include "lumos/error.hpp"
#include "model/onnx/op_registry.hpp"

#include <cmath>

namespace lumos::onnx {
namespace {

// ATen rejects floating alpha/beta for integer tensors; ONNX's integer Gemm uses whole values.
at::Scalar scalar_for(const at::Tensor& t, double value) {
  if (at::isFloatingType(t.scalar_type())) return value;
  return static_cast<int64_t>(std::llround(value));
}

}  // namespace

// Y = alpha * A' B' + beta * C, A' and B' optionally transposed, C (optional from
// opset 11) broadcast to (M, N).
LUMOS_ONNX_OP(Gemm, "Gemm", 1, kLatestOpset, inputs(2, 3)) {
  const double alpha = node.f("alpha", 1.0f);
  const double beta = node.f("beta", 1.0f);
  const bool trans_a = node.i("transA", 0) != 0;
  const bool trans_b = node.i("transB", 0) != 0;
  return [alpha, beta, trans_a, trans_b](const Tensors& in) {
    if (in[0].dim() != 2 || in[1].dim() != 2) {
      throw ModelError("Gemm needs 2-D A and B; got ranks " + std::to_string(in[0].dim()) + " and " +
                       std::to_string(in[1].dim()));
    }
    const auto a = trans_a ? in[0].t() : in[0];
    const auto b = trans_b ? in[1].t() : in[1];
    const bool has_c = in.size() > 2 && in[2].defined() && beta != 0.0;
    if (has_c) return Tensors{at::addmm(in[2], a, b, scalar_for(a, beta), scalar_for(a, alpha))};
    auto y = at::mm(a, b);
    return Tensors{alpha == 1.0 ? y : y * scalar_for(y, alpha)};
  };
}

// numpy matmul: 1-D operands are promoted to matrices and the added dimension removed.
LUMOS_ONNX_OP(MatMul, "MatMul", 1, kLatestOpset, inputs(2)) {
  return [](const Tensors& in) { return Tensors{at::matmul(in[0], in[1])}; };
}

}  // namespace lumos::onnx
