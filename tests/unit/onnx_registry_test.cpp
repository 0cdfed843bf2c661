// Every registered op against its signature: a node with too few or too many inputs or
// outputs, or an empty required input, fails when the model is loaded, naming the node;
// a node with any allowed number of inputs loads and either runs or fails with a
// ModelError. No kernel reads past its inputs, whatever the file says.
#include "lumos/error.hpp"
#include "model/onnx/graph.hpp"
#include "support/error_of.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>

using lumos::testing::error_of;
using namespace lumos::onnx;

namespace {

constexpr int kMostInputsTried = 6;  // for variadic ops

// A graph with one node of `version`'s op: `inputs` graph inputs of shape [2,3,4,5]
// feeding it (empty names where `empty` says), and `outputs` graph outputs.
::onnx::ModelProto one_node(const OpVersion& version, int inputs, int outputs, int empty_input = -1) {
  ::onnx::ModelProto model;
  model.set_ir_version(8);
  auto* op_set = model.add_opset_import();
  op_set->set_version(version.since);
  auto* graph = model.mutable_graph();
  auto* node = graph->add_node();
  node->set_op_type(version.op_type);
  node->set_name("probe");
  // Pools need a window; other ops ignore attributes they do not know.
  auto* kernel = node->add_attribute();
  kernel->set_name("kernel_shape");
  kernel->set_type(::onnx::AttributeProto::INTS);
  kernel->add_ints(1);
  kernel->add_ints(1);
  for (int i = 0; i < inputs; ++i) {
    if (i == empty_input) {
      node->add_input("");
      continue;
    }
    const std::string name = "in" + std::to_string(i);
    node->add_input(name);
    auto* input = graph->add_input();
    input->set_name(name);
    auto* type = input->mutable_type()->mutable_tensor_type();
    type->set_elem_type(::onnx::TensorProto::FLOAT);
    for (int64_t d : {2, 3, 4, 5}) type->mutable_shape()->add_dim()->set_dim_value(d);
  }
  for (int o = 0; o < outputs; ++o) {
    const std::string name = "out" + std::to_string(o);
    node->add_output(name);
    graph->add_output()->set_name(name);
  }
  return model;
}

std::string describe(const OpVersion& v) { return v.op_type + " (opsets " + std::to_string(v.since) + "-" + std::to_string(v.until) + ")"; }

// Loads and runs the graph; returns "" when it ran, the ModelError's text otherwise.
std::string load_and_run(const ::onnx::ModelProto& model) {
  try {
    const Graph graph(model, "");
    Tensors feeds;
    for (size_t i = 0; i < graph.inputs().size(); ++i) feeds.push_back(at::rand({2, 3, 4, 5}));
    std::vector<int> wanted;
    for (const auto& output : graph.outputs()) wanted.push_back(graph.slot(output.name));
    graph.run(feeds, wanted);
    return "";
  } catch (const lumos::ModelError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << model.graph().node(0).op_type() << " opset " << model.opset_import(0).version() << " with "
                  << model.graph().node(0).input_size() << " inputs threw " << typeid(e).name() << ": " << e.what();
    return e.what();
  }
}

}  // namespace

TEST(OpRegistry, EveryOpRejectsTooFewAndTooManyInputsAtLoad) {
  for (const auto& v : OpRegistry::instance().all()) {
    const auto& s = v.signature;
    const int outputs = s.least_outputs();
    if (s.least_inputs() > 0) {
      const auto message = error_of<lumos::ModelError>([&] { Graph(one_node(v, s.least_inputs() - 1, outputs), ""); });
      EXPECT_NE(message.find("probe"), std::string::npos) << describe(v) << ": " << message;
      EXPECT_NE(message.find("input(s)"), std::string::npos) << describe(v) << ": " << message;

      const auto empty = error_of<lumos::ModelError>([&] { Graph(one_node(v, s.least_inputs(), outputs, 0), ""); });
      EXPECT_NE(empty.find("input 0 is required"), std::string::npos) << describe(v) << ": " << empty;
    }
    if (s.most_inputs() != kVariadic) {
      const auto message = error_of<lumos::ModelError>([&] { Graph(one_node(v, s.most_inputs() + 1, outputs), ""); });
      EXPECT_NE(message.find("input(s)"), std::string::npos) << describe(v) << ": " << message;
    }
    if (s.most_outputs() != kVariadic) {
      const auto message =
          error_of<lumos::ModelError>([&] { Graph(one_node(v, s.least_inputs(), s.most_outputs() + 1), ""); });
      EXPECT_NE(message.find("output(s)"), std::string::npos) << describe(v) << ": " << message;
    }
  }
}

// Kernels given every allowed input count (optional ones present or not) on float data:
// they run or fail with a ModelError, and never read an input that is not there.
TEST(OpRegistry, EveryAllowedInputCountRunsOrFailsCleanly) {
  int ran = 0, failed = 0;
  for (const auto& v : OpRegistry::instance().all()) {
    const auto& s = v.signature;
    const int most = std::min(s.most_inputs(), kMostInputsTried);
    for (int n = s.least_inputs(); n <= most; ++n) {
      for (int outputs : {s.least_outputs(), std::min(s.most_outputs(), 3)}) {
        (load_and_run(one_node(v, n, outputs)).empty() ? ran : failed)++;
        // Optional inputs left empty in the middle arrive as undefined tensors.
        if (n > s.least_inputs() + 1) load_and_run(one_node(v, n, outputs, s.least_inputs()));
      }
    }
  }
  std::cout << "    " << ran << " op/input-count combinations ran, " << failed << " failed cleanly\n";
  EXPECT_GT(ran, 100);
}

TEST(OpRegistry, AttributeRangesAreCheckedAtLoad) {
  const auto* conv = OpRegistry::instance().find("Conv", 13);
  ASSERT_NE(conv, nullptr);
  auto with_attribute = [&](const std::string& name, ::onnx::AttributeProto::AttributeType type,
                            const std::vector<int64_t>& values) {
    auto model = one_node(*conv, 2, 1);
    auto* a = model.mutable_graph()->mutable_node(0)->add_attribute();
    a->set_name(name);
    a->set_type(type);
    if (type == ::onnx::AttributeProto::INT) a->set_i(values.at(0));
    if (type == ::onnx::AttributeProto::INTS) for (auto value : values) a->add_ints(value);
    if (type == ::onnx::AttributeProto::FLOAT) a->set_f(2.f);
    return model;
  };
  // A huge group once ended in SIGFPE inside LibTorch.
  for (int64_t group : {int64_t{0}, int64_t{-3}, int64_t{1} << 40, INT64_MAX}) {
    const auto message =
        error_of<lumos::ModelError>([&] { Graph(with_attribute("group", ::onnx::AttributeProto::INT, {group}), ""); });
    EXPECT_NE(message.find("attribute 'group' is " + std::to_string(group) + "; it must be between 1 and"),
              std::string::npos)
        << message;
  }
  auto message = error_of<lumos::ModelError>([&] { Graph(with_attribute("group", ::onnx::AttributeProto::FLOAT, {}), ""); });
  EXPECT_NE(message.find("'group' must be an integer"), std::string::npos) << message;
  message = error_of<lumos::ModelError>(
      [&] { Graph(with_attribute("pads", ::onnx::AttributeProto::INTS, {0, -1, 0, 0}), ""); });
  EXPECT_NE(message.find("attribute 'pads' is -1"), std::string::npos) << message;
  message = error_of<lumos::ModelError>(
      [&] { Graph(with_attribute("strides", ::onnx::AttributeProto::INTS, {1, int64_t{1} << 62}), ""); });
  EXPECT_NE(message.find("attribute 'strides'"), std::string::npos) << message;

  // A group in range that does not divide the channels is LibTorch's error, as a ModelError.
  EXPECT_FALSE(load_and_run(with_attribute("group", ::onnx::AttributeProto::INT, {1 << 20})).empty());
}

TEST(OpRegistry, NodeWithoutOpTypeIsNamed) {
  const auto* relu = OpRegistry::instance().find("Relu", 13);
  ASSERT_NE(relu, nullptr);
  auto model = one_node(*relu, 1, 1);
  model.mutable_graph()->mutable_node(0)->set_op_type("");
  const auto message = error_of<lumos::ModelError>([&] { Graph(model, ""); });
  EXPECT_NE(message.find("node 'probe' has no op type"), std::string::npos) << message;
}
