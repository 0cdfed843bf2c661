// lumos report: the report of finished runs, merged (runs split over machines, shards).
#include "commands.hpp"

#include "lumos/report.hpp"

#include <filesystem>
#include <iostream>

namespace lumos::cli {

void write_report_files(const std::vector<std::string>& runs, const std::string& out, const std::string& title,
                        bool self_contained) {
  ReportOptions options;
  options.title = title;
  if (self_contained) options.self_contained = true;
  const auto written = write_report(runs, out, options);
  for (const auto& note : written.notes) print_error("warning: " + note);
  // Paths as the user gave them: relative stays relative.
  std::cout << "report: " << (std::filesystem::path(out) / "report.html").string() << " ("
            << written.images << (written.images == 1 ? " image" : " images") << (written.self_contained ? ", self-contained" : "") << "); table: "
            << (std::filesystem::path(out) / "summary.csv").string() << "\n";
}

CLI::App* add_report_command(CLI::App& app, ReportCommandOptions& options) {
  auto* command = app.add_subcommand(
      "report", "Make the report (report.html gallery, summary.csv) of finished lumos explain runs, merging several");
  command->add_option("runs", options.runs,
                      "Folders lumos explain wrote (its -o), or folders of them; images explained twice the same "
                      "way are shown once")
      ->required();
  command->add_option("-o,--out", options.out, "Output folder (default lumos-report)");
  command->add_option("--title", options.title, "The report's title (default: lumos — <model file>)");
  command->add_flag("--self-contained", options.self_contained,
                    "Embed every picture in report.html (the default for at most 20 images)");
  return command;
}

int run_report(const ReportCommandOptions& options) {
  prepare_output_folder(options.out);
  write_report_files(options.runs, options.out, options.title, options.self_contained);
  return kOk;
}

}  // namespace lumos::cli
