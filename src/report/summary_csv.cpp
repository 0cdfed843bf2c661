// summary.csv of a report.
#include "report/summary_csv.hpp"

#include "lumos/labels.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace lumos::report_detail {
namespace {

using nlohmann::json;

// A number as its shortest exact text (nlohmann's), a bool as 0/1, a string as it is.
std::string cell(const json& value) {
  if (value.is_null()) return "";
  if (value.is_boolean()) return value.get<bool>() ? "1" : "0";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

// Columns in order of first appearance.
class Columns {
 public:
  size_t operator()(const std::string& name) {
    const auto [it, added] = index_.emplace(name, names_.size());
    if (added) names_.push_back(name);
    return it->second;
  }
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
  std::map<std::string, size_t> index_;
};

using Row = std::map<size_t, std::string>;

void add_method(Columns& columns, Row& row, const json& method) {
  const std::string name = method.value("method", std::string("method"));
  std::vector<std::pair<std::string, std::string>> cells;
  if (method.contains("time_ms")) cells.emplace_back(name + "_time_ms", cell(method["time_ms"]));
  for (const auto& [key, value] : method.items()) {
    if (key == "time_ms") continue;
    if (key == "empty" || value.is_number()) cells.emplace_back(name + "_" + key, cell(value));
  }
  if (method.contains("timings_ms") && method["timings_ms"].is_object()) {
    for (const auto& [part, ms] : method["timings_ms"].items()) cells.emplace_back(name + "_" + part + "_ms", cell(ms));
  }
  for (auto& [column, value] : cells) row[columns(column)] = std::move(value);
}

}  // namespace

std::string csv_field(const std::string& field) {
  const bool quote = field.find_first_of(",\"\r\n") != std::string::npos ||
                     (!field.empty() && (field.front() == ' ' || field.back() == ' '));
  if (!quote) return field;
  std::string out = "\"";
  for (char c : field) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string summary_csv(const ReportRuns& runs, const std::filesystem::path& out) {
  Columns columns;
  for (const char* name : {"run", "image", "folder", "error", "target_class", "target_label", "target_probability",
                           "target_score"}) {
    columns(name);
  }
  size_t top = 0;
  for (const auto& item : runs.items) {
    if (!item.folder.empty()) top = std::max(top, item.record.value("predictions", json::array()).size());
  }
  for (size_t k = 1; k <= top; ++k) {
    for (const char* part : {"class", "label", "probability"}) columns("top" + std::to_string(k) + "_" + part);
  }
  std::vector<Row> rows;
  for (const auto& item : runs.items) {
    Row row{{0, runs.runs[item.run].given}, {1, item.image}};
    if (item.folder.empty()) {
      row[3] = item.error;
      rows.push_back(row);
      continue;
    }
    row[2] = item.folder.lexically_relative(out).generic_string();
    const auto predictions = item.record.value("predictions", json::array());
    for (size_t k = 0; k < predictions.size(); ++k) {
      const auto& p = predictions[k];
      const std::string prefix = "top" + std::to_string(k + 1) + "_";
      row[columns(prefix + "class")] = cell(p.value("class", json()));
      row[columns(prefix + "label")] = class_name(p.value("class", int64_t{-1}), p.value("label", std::string()));
      row[columns(prefix + "probability")] = cell(p.value("probability", json()));
    }
    const auto targets = item.record.value("targets", json::array());
    if (targets.empty()) rows.push_back(row);
    for (const auto& target : targets) {
      Row target_row = row;
      target_row[4] = cell(target.value("class", json()));
      target_row[5] = class_name(target.value("class", int64_t{-1}), target.value("label", std::string()));
      target_row[6] = cell(target.value("probability", json()));
      target_row[7] = cell(target.value("score", json()));
      for (const auto& method : target.value("methods", json::array())) add_method(columns, target_row, method);
      rows.push_back(std::move(target_row));
    }
  }
  std::string text;
  const auto line = [&](const std::vector<std::string>& fields) {
    for (size_t i = 0; i < fields.size(); ++i) text += (i ? "," : "") + csv_field(fields[i]);
    text += "\r\n";
  };
  line(columns.names());
  for (const auto& row : rows) {
    std::vector<std::string> fields(columns.names().size());
    for (const auto& [column, value] : row) fields[column] = value;
    line(fields);
  }
  return text;
}

}  // namespace lumos::report_detail
