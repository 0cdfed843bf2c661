// What the report builder reads: finished runs, as `lumos explain` leaves them on disk.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace lumos::report_detail {

struct RunFolder {
  std::string given;           // as the user named it
  std::filesystem::path path;  // absolute, normalised
};

// One image of a run: explained (its folder and explanation.json) or not (its error).
struct ReportItem {
  size_t run = 0;
  std::string image;             // as the run was given it
  std::filesystem::path folder;  // absolute; empty when it failed
  std::string error;
  nlohmann::json record;         // explanation.json
};

struct ReportRuns {
  std::vector<RunFolder> runs;
  std::vector<ReportItem> items;   // runs in the order given, each run's images in its order
  std::vector<std::string> notes;  // what the reader should know: duplicates skipped, files unreadable
};

// Reads each folder: a run (its run.json lists its images in order and its failures; runs that
// shared the folder add run.<part>.json files, read in name order; without any, every subfolder
// holding an explanation.json, sorted), one image's folder, or a folder of runs (subfolders with
// a run record, sorted). An image that two runs explained with the same
// settings is shown once (the first); with different settings, both. A folder given twice counts
// once. Throws InputError for a folder that is missing or holds no explanation.
ReportRuns read_runs(const std::vector<std::string>& folders);

// The settings an image was explained with (model, scores, preprocessing, methods, targets,
// method settings), as one JSON object: equal objects mean comparable explanations.
nlohmann::json settings_of(const nlohmann::json& record);

}  // namespace lumos::report_detail
