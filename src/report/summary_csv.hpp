// summary.csv: the report's numbers as a table for notebooks and spreadsheets.
#pragma once

#include "report/report_runs.hpp"

#include <filesystem>
#include <string>

namespace lumos::report_detail {

// One row per image and target (one for an image that was not explained): run, image, its
// folder relative to `out`, error, the target's class, label, probability and score, the top
// classes with their probabilities, and per method its time, its numbers and its time split.
// Columns are the union over all images; an empty cell is a value an image does not have.
// Fields are quoted as RFC 4180 says.
std::string summary_csv(const ReportRuns& runs, const std::filesystem::path& out);

// `field` as a CSV field: quoted when it holds a comma, quote, line break or outer space.
std::string csv_field(const std::string& field);

}  // namespace lumos::report_detail
