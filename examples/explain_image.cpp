// Explains one image's top class with Grad-CAM through lumos's public API, and writes the
// overlay, the map and explanation.json as `lumos explain` does:
//   explain_image MODEL.onnx IMAGE OUT_DIR
#include <lumos/error.hpp>
#include <lumos/explain.hpp>
#include <lumos/explanation_files.hpp>
#include <lumos/runtime.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: explain_image MODEL.onnx IMAGE OUT_DIR\n";
    return 2;
  }
  try {
    lumos::keep_freed_memory();
    const auto model = lumos::Model::load(argv[1]);
    lumos::ExplainRequest request;
    request.methods = {"gradcam"};
    lumos::ExplainPipeline pipeline(*model, request);
    const auto result = pipeline.run({lumos::ImageInput::file(argv[2])}).at(0);
    if (!result.ok()) {
      std::cerr << "explain_image: " << result.error << "\n";
      return 1;
    }

    const auto& top = result.targets.at(0);
    const auto& gradcam = top.methods.at(0);
    const int64_t peak = gradcam.map.argmax().item<int64_t>();
    std::cout << "top class: " << lumos::class_name(top.class_index, top.label) << " (probability "
              << top.probability << ")\n"
              << "Grad-CAM peaks at row " << peak / gradcam.map.size(1) << ", column " << peak % gradcam.map.size(1)
              << " of the " << gradcam.map.size(0) << "x" << gradcam.map.size(1) << " input\n";

    lumos::RunSummary run = pipeline.summary();
    run.model = argv[1];
    lumos::FolderOptions files;
    files.npy = true;
    std::cout << "wrote " << lumos::write_image_folder(argv[3], "explained", result, run, files) << "\n";
  } catch (const lumos::Error& e) {
    std::cerr << "explain_image: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
