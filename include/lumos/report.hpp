// The report of finished runs: made from the explanation.json files `lumos explain` wrote (and
// each image's pictures), so the same code reports a run when it ends and merges runs split over
// machines afterwards (`lumos report DIR... -o OUT`). It writes into OUT:
//
//   report.html      a gallery: a card per image and target (its top class, probability and a
//                    thumbnail per method), sorting and filtering by class, target, probability
//                    and every number the methods gave, paging, and a detail view with the
//                    full-size pictures, predictions, LIME's weights, timings and the settings
//   report_data.js   the gallery's data (a script, as browsers refuse fetch() from file://);
//                    not written for a self-contained report
//   summary.csv      one row per image and target: top classes, probabilities, per-method times
//                    and numbers
//
// The pictures stay where the runs wrote them and are linked by relative paths (so OUT and the
// run folders move together); a self-contained report embeds them instead (docs/report.md).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace lumos {

// Reports of at most this many images embed their pictures unless told otherwise.
constexpr size_t kSelfContainedImages = 20;

struct ReportOptions {
  // "": "lumos — <model file>" when every image was explained with one model, else "lumos report".
  std::string title;
  // Embed every picture into report.html (one file to send). none: only for reports of at most
  // kSelfContainedImages images.
  std::optional<bool> self_contained;
};

struct ReportWritten {
  std::string html, data, csv;     // the files written; data is "" for a self-contained report
  bool self_contained = false;
  size_t images = 0;               // images in the report, explained or not
  size_t failed = 0;               // of them, not explained (or whose explanation.json is unreadable)
  std::vector<std::string> notes;  // what the user should hear: duplicates shown once, unreadable files
};

// Writes the report of `runs` into the folder `out` (made when missing), each file atomically.
// A run is a folder lumos explain wrote (with run.json its images in its order and its failures;
// without, every subfolder with an explanation.json), one image's folder, or a folder of runs.
// Thumbnails a run lacks are made under out/thumbnails/. Throws InputError for a folder with no
// explanation in it, lumos::Error when a file cannot be read or written.
ReportWritten write_report(const std::vector<std::string>& runs, const std::string& out,
                           const ReportOptions& options = {});

}  // namespace lumos
