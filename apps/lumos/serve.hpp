// lumos serve: the model behind an HTTP API and a web page (docs/serve.md).
#pragma once

#include "commands.hpp"

#include <string>

namespace lumos::cli {

struct ServeOptions {
  ExplainOptions explain;  // the model, its input flags and the defaults of every request
  std::string host = "127.0.0.1";
  int port = 8080;
  int max_batch = 8;
  int max_wait_ms = 5;
  int queue = 64;
  int deadline_ms = 60000;
  int max_body_mb = 20;
  int64_t max_pixels = 40'000'000;
  int max_lime_samples = 5000;
};
CLI::App* add_serve_command(CLI::App& app, ServeOptions& options);
int run_serve(const ServeOptions& options);

}  // namespace lumos::cli
