// lumos command line: a thin layer over the library. Exit codes: see cli.hpp and docs/cli.md.
#include "cli.hpp"
#include "commands.hpp"
#include "eval_command.hpp"

#include "lumos/runtime.hpp"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <opencv2/core/utils/logger.hpp>

#include <algorithm>
#include <thread>

int main(int argc, char** argv) {
  using namespace lumos::cli;
  CLI::App app{"lumos: see what an image classifier looks at"};
  app.require_subcommand(1);
  app.fallthrough();  // global options such as --threads may follow the subcommand
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--threads", threads, "Threads for the model (default: all cores)")
      ->check(integer_in(1, max_threads(), "at most 4 per core"));

  LayersOptions layers;
  PredictOptions predict;
  auto* layers_command = add_layers_command(app, layers);
  auto* predict_command = add_predict_command(app, predict);
  ExplainOptions explain;
  auto* explain_command = add_explain_command(app, explain);
  EvalOptions eval;
  auto* eval_command = add_eval_command(app, eval);
  ReportCommandOptions report;
  auto* report_command = add_report_command(app, report);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(usage_message(e, app));
    return kUsageError;
  }

  // Errors surface as exceptions with their own messages; OpenCV's log lines would repeat them.
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  try {
    lumos::keep_freed_memory();
    at::set_num_threads(threads);
    if (layers_command->parsed()) return run_layers(layers);
    if (predict_command->parsed()) return run_predict(predict);
    if (explain_command->parsed()) return run_explain(explain);
    if (eval_command->parsed()) return run_eval(eval);
    if (report_command->parsed()) return run_report(report);
  } catch (...) {
    return report_current_exception();
  }
  return kUsageError;
}
