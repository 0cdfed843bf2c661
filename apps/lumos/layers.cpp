// lumos layers: the values a method can target, with their shapes.
#include "commands.hpp"

#include "lumos/error.hpp"

#include <algorithm>
#include <iostream>

namespace lumos::cli {
CLI::App* add_layers_command(CLI::App& app, LayersOptions& options) {
  auto* command = app.add_subcommand("layers", "List the layers a method can target, with their shapes at batch 1");
  options.model.add_to(*command, false);
  return command;
}

int run_layers(const LayersOptions& options) {
  const auto model = options.model.load();
  const auto& layers = model->layers();
  std::string default_layer;
  try {
    default_layer = model->default_layer();
  } catch (const ModelError&) {
    // No spatial layer: the list is still useful, with nothing marked.
  }
  size_t name_width = 4, op_width = 2;
  for (const auto& layer : layers) {
    name_width = std::max(name_width, layer.name.size());
    op_width = std::max(op_width, layer.op.size());
  }
  auto pad = [](const std::string& s, size_t width) { return s + std::string(width - s.size() + 2, ' '); };
  std::cout << "  " << pad("name", name_width) << pad("op", op_width) << "shape\n";
  for (const auto& layer : layers) {
    std::cout << (layer.name == default_layer ? "* " : "  ") << pad(layer.name, name_width) << pad(layer.op, op_width)
              << shape_string(layer.shape) << (layer.shape.size() == 4 ? " " + to_string(layer.layout) : "") << "\n";
  }
  std::cout << (default_layer.empty() ? "no layer is 4-D with spatial size > 1: name a layer for CAM methods\n"
                                      : "* default target layer\n");
  return kOk;
}

}  // namespace lumos::cli
