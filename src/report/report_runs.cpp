// Finding the images of finished runs and reading their explanation.json files.
#include "report/report_runs.hpp"

#include "lumos/error.hpp"
#include "lumos/file.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace lumos::report_detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool is_file(const fs::path& path) {
  std::error_code ignored;
  return fs::is_regular_file(path, ignored);
}

// The file's JSON; throws Error saying what is wrong with it (a FileError if it is not a
// regular file of at most 64 MiB: a FIFO or a device in a run folder is not waited on).
json read_json(const fs::path& path, const std::string& what) {
  const std::string text = read_file(path.string(), what, kMaxTextFileBytes);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error("'" + path.string() + "' is not valid JSON (" + e.what() + ")");
  }
}

// Subfolders in name order, hidden ones (a folder being written: ".x.partial") left out.
std::vector<fs::path> subfolders(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && !name.empty() && name[0] != '.') found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// The folder's run records in name order: run.json, and run.<part>.json of runs that shared
// the folder (shards writing into one place name their records apart).
std::vector<fs::path> run_records(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool record = name == "run.json" || (name.size() > 9 && name.rfind("run.", 0) == 0 &&
                                               name.compare(name.size() - 5, 5, ".json") == 0);
    if (record && entry.is_regular_file()) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string json_string(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// An explained image's item, or a failed one saying why its explanation.json cannot be used.
ReportItem read_image(size_t run, const fs::path& folder, const std::string& listed_as) {
  ReportItem item{run, listed_as, folder, "", json()};
  try {
    item.record = read_json(folder / "explanation.json", "explanation file");
    if (!item.record.is_object() || !item.record.contains("targets") || !item.record["targets"].is_array()) {
      throw Error("'" + (folder / "explanation.json").string() + "' is not an explanation.json of lumos explain");
    }
    const std::string image = json_string(item.record, "image");
    if (!image.empty()) item.image = image;
  } catch (const Error& e) {
    item.folder.clear();
    item.error = e.what();
  }
  return item;
}

void add_run(ReportRuns& out, const RunFolder& run) {
  const size_t index = out.runs.size();
  out.runs.push_back(run);
  const auto add = [&](ReportItem item) { out.items.push_back(std::move(item)); };
  const auto add_folder = [&](const fs::path& folder, const std::string& listed_as) {
    ReportItem item = read_image(index, folder, listed_as);
    if (!item.error.empty()) out.notes.push_back(item.error);
    out.items.push_back(std::move(item));
  };
  const auto records = run_records(run.path);
  for (const auto& record : records) {
    const json listed = read_json(record, "run record");
    if (!listed.is_object() || !listed.contains("images") || !listed["images"].is_array()) {
      throw InputError("'" + record.string() + "' is not a run record of lumos explain; remove it to report the "
                       "run's folders");
    }
    for (const auto& entry : listed["images"]) {
      const std::string image = json_string(entry, "image"), folder = json_string(entry, "folder");
      if (folder.empty()) {
        add({index, image, {}, json_string(entry, "error"), json()});
      } else {
        add_folder(run.path / folder, image);
      }
    }
  }
  if (!records.empty()) return;
  if (is_file(run.path / "explanation.json")) {
    add_folder(run.path, run.path.filename().string());
    return;
  }
  for (const auto& folder : subfolders(run.path)) {
    if (is_file(folder / "explanation.json")) add_folder(folder, folder.filename().string());
  }
}

}  // namespace

json settings_of(const json& record) {
  json settings = record.contains("settings") && record["settings"].is_object() ? record["settings"] : json::object();
  for (const char* key : {"model", "scores", "preprocess"}) {
    if (record.contains(key)) settings[key] = record[key];
  }
  return settings;
}

ReportRuns read_runs(const std::vector<std::string>& folders) {
  if (folders.empty()) throw InputError("no run folder to report; give the folders lumos explain wrote");
  std::vector<RunFolder> runs;
  std::set<fs::path> seen;
  for (const auto& given : folders) {
    const fs::path path = fs::absolute(given).lexically_normal();
    std::error_code error;
    if (!fs::is_directory(path, error)) {
      throw InputError("'" + given + "' is not a folder; give the folders lumos explain wrote (its -o)");
    }
    const auto inside = subfolders(path);
    const bool is_run = !run_records(path).empty() || is_file(path / "explanation.json") ||
                        std::any_of(inside.begin(), inside.end(),
                                    [](const fs::path& sub) { return is_file(sub / "explanation.json"); });
    std::vector<RunFolder> found;
    if (is_run) {
      found.push_back({given, path});
    } else {
      for (const auto& sub : inside) {
        if (!run_records(sub).empty()) found.push_back({(fs::path(given) / sub.filename()).string(), sub});
      }
    }
    if (found.empty()) {
      throw InputError("'" + given + "' holds no explanation.json — give folders that lumos explain wrote (its -o), "
                       "or a folder of such folders");
    }
    for (auto& run : found) {
      if (seen.insert(fs::weakly_canonical(run.path, error)).second) runs.push_back(std::move(run));
    }
  }

  ReportRuns out;
  for (const auto& run : runs) add_run(out, run);

  // The same image explained the same way in two runs (a shard run twice) is shown once.
  std::map<std::string, size_t> first_run;  // image + settings → the run that has it
  std::vector<ReportItem> kept;
  size_t duplicates = 0;
  std::string example;
  for (auto& item : out.items) {
    if (!item.folder.empty()) {
      const std::string key = item.image + "\n" + settings_of(item.record).dump();
      const auto [it, added] = first_run.emplace(key, item.run);
      if (!added && it->second != item.run) {
        if (duplicates++ == 0) example = "'" + item.image + "' (in " + out.runs[it->second].given + " and " +
                                         out.runs[item.run].given + ")";
        continue;
      }
    }
    kept.push_back(std::move(item));
  }
  out.items = std::move(kept);
  if (duplicates > 0) {
    out.notes.push_back(std::to_string(duplicates) + " image" + (duplicates == 1 ? " was" : "s were") +
                        " explained with the same settings in more than one run and shown once, e.g. " + example);
  }
  return out;
}

}  // namespace lumos::report_detail
