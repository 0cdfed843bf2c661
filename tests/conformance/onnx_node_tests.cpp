// Runs the ONNX backend node tests (model.onnx + test_data_set_*/input_N.pb, output_N.pb)
// for every test whose operators lumos claims, with ONNX's tolerance (rtol 1e-3,
// atol 1e-7), and prints "N passed, N failed". Each is run twice: as given, and with its 4-D
// inputs in channels-last memory in InferenceMode (as the inference plan runs image CNNs).
//
//   onnx_conformance DATA_DIR EXCLUSIONS_FILE [NAME_FILTER]
#include "lumos/error.hpp"
#include "model/onnx/graph.hpp"
#include "model/onnx/tensor_proto.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using namespace lumos::onnx;

namespace {

std::map<std::string, std::string> read_exclusions(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string name;
    words >> name;
    std::string reason;
    std::getline(words, reason);
    out[name] = reason;
  }
  return out;
}

std::vector<fs::path> numbered(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (int i = 0;; ++i) {
    auto p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

// Empty when equal within tolerance, else what differs.
std::string compare(const at::Tensor& expected, const at::Tensor& actual) {
  if (!actual.defined()) return "no output";
  if (expected.scalar_type() != actual.scalar_type()) {
    return std::string("dtype ") + c10::toString(actual.scalar_type()) + ", expected " +
           c10::toString(expected.scalar_type());
  }
  if (expected.sizes() != actual.sizes()) {
    std::ostringstream s;
    s << "shape " << actual.sizes() << ", expected " << expected.sizes();
    return s.str();
  }
  if (expected.numel() == 0) return "";
  if (!at::isFloatingType(expected.scalar_type())) {
    return at::equal(expected, actual) ? "" : "values differ";
  }
  auto e = expected.to(at::kDouble);
  auto a = actual.to(at::kDouble);
  auto both_nan = at::isnan(e) & at::isnan(a);
  auto same_inf = at::isinf(e) & (e == a);
  auto close = (a - e).abs() <= 1e-7 + 1e-3 * e.abs();
  auto ok = both_nan | same_inf | close;
  if (ok.all().item<bool>()) return "";
  auto bad = (~ok).nonzero();
  std::ostringstream s;
  s << (~ok).sum().item<int64_t>() << " of " << e.numel() << " values differ; max abs diff "
    << (a - e).abs().masked_fill(~at::isfinite(a - e), 0).max().item<double>();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: onnx_conformance DATA_DIR EXCLUSIONS_FILE [NAME_FILTER]\n";
    return 2;
  }
  const fs::path data_dir = argv[1];
  if (!fs::is_directory(data_dir)) {
    std::cerr << "no ONNX node tests at " << data_dir << ": install libonnx-testdata\n";
    return 2;
  }
  const auto exclusions = read_exclusions(argv[2]);
  const std::string filter = argc > 3 ? argv[3] : "";
  at::set_num_threads(1);

  std::vector<fs::path> tests;
  for (const auto& entry : fs::directory_iterator(data_dir))
    if (entry.is_directory()) tests.push_back(entry.path());
  std::sort(tests.begin(), tests.end());

  int passed = 0, failed = 0, excluded = 0, unclaimed = 0;
  std::set<std::string> ops_tested;
  const auto& registry = OpRegistry::instance();
  for (const auto& dir : tests) {
    const std::string name = dir.filename().string();
    if (!filter.empty() && name.find(filter) == std::string::npos) continue;
    ::onnx::ModelProto model;
    std::ifstream file(dir / "model.onnx", std::ios::binary);
    if (!model.ParseFromIstream(&file)) continue;
    int opset = 1;
    for (const auto& op_set : model.opset_import())
      if (op_set.domain().empty() || op_set.domain() == "ai.onnx") opset = static_cast<int>(op_set.version());
    bool claimed = model.graph().node_size() > 0;
    for (const auto& node : model.graph().node()) {
      if (!node.domain().empty() && node.domain() != "ai.onnx") claimed = false;
      if (!registry.find(node.op_type(), opset)) claimed = false;
    }
    if (!claimed) {
      ++unclaimed;
      continue;
    }
    if (auto it = exclusions.find(name); it != exclusions.end()) {
      ++excluded;
      std::cout << "EXCLUDED " << name << " —" << it->second << "\n";
      continue;
    }
    for (const auto& node : model.graph().node()) ops_tested.insert(node.op_type());
    std::string failure;
    try {
      Graph graph(model, dir.string());
      std::vector<int> wanted;
      for (const auto& out : graph.outputs()) wanted.push_back(graph.slot(out.name));
      for (const auto& data_set : fs::directory_iterator(dir)) {
        if (!data_set.is_directory()) continue;
        Tensors feeds;
        for (const auto& p : numbered(data_set.path(), "input_")) feeds.push_back(read_tensor_file(p.string()));
        const auto expected = numbered(data_set.path(), "output_");
        const auto actual = graph.run(feeds, wanted);
        // Again with every 4-D input in channels-last memory, in InferenceMode: how the inference
        // plan gives an image CNN its batch, which every kernel must take alike.
        Tensors channels_last;
        for (const auto& feed : feeds) {
          channels_last.push_back(feed.dim() == 4 ? feed.contiguous(at::MemoryFormat::ChannelsLast) : feed);
        }
        Tensors strided;
        {
          c10::InferenceMode inference;
          strided = graph.run(channels_last, wanted);
        }
        for (size_t i = 0; i < expected.size() && failure.empty(); ++i) {
          const auto reference = read_tensor_file(expected[i].string());
          auto diff = compare(reference, actual.at(i));
          if (!diff.empty()) failure = "output " + std::to_string(i) + ": " + diff;
          diff = compare(reference, strided.at(i));
          if (failure.empty() && !diff.empty()) failure = "output " + std::to_string(i) + ", channels-last inputs: " + diff;
        }
      }
    } catch (const c10::Error& e) {
      failure = e.what_without_backtrace();
      failure = failure.substr(0, failure.find('\n'));
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (failure.empty()) {
      ++passed;
    } else {
      ++failed;
      std::cout << "FAILED " << name << ": " << failure << "\n";
    }
  }
  std::cout << "ops covered by node tests (" << ops_tested.size() << "):";
  for (const auto& op : ops_tested) std::cout << " " << op;
  std::cout << "\nclaimed ops without a node test:";
  std::set<std::string> claimed_ops;
  for (const auto& v : registry.all()) claimed_ops.insert(v.op_type);
  for (const auto& op : claimed_ops)
    if (!ops_tested.count(op)) std::cout << " " << op;
  std::cout << "\n" << excluded << " excluded, " << unclaimed << " not claimed\n";
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
