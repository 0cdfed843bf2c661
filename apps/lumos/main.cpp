// lumos command line: thin layer over the library.
#include "lumos/error.hpp"
#include "lumos/model.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"lumos: see what an image classifier looks at"};
  app.require_subcommand(1);
  std::string model_path;
  auto* layers = app.add_subcommand("layers", "List the layers a method can target, with shapes");
  layers->add_option("-m,--model", model_path, "Model file (.onnx)")->required()->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  try {
    auto model = lumos::Model::load(model_path);
    const auto default_layer = model->default_layer();
    for (const auto& layer : model->layers()) {
      std::cout << (layer.name == default_layer ? "* " : "  ") << layer.name << "  " << layer.op << "  [";
      for (size_t i = 0; i < layer.shape.size(); ++i) std::cout << (i ? "," : "") << layer.shape[i];
      std::cout << "]\n";
    }
  } catch (const lumos::Error& e) {
    std::cerr << "lumos: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
