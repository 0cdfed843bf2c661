// The report of finished runs: the gallery's data from the explanation.json files, report.html,
// report_data.js and summary.csv. The format of the data is described in docs/report.md.
#include "lumos/report.hpp"

#include "lumos/atomic_file.hpp"
#include "lumos/error.hpp"
#include "lumos/explanation_files.hpp"
#include "lumos/file.hpp"
#include "lumos/image.hpp"
#include "lumos/labels.hpp"
#include "lumos/method_family.hpp"
#include "lumos/render.hpp"
#include "report/gallery_page.hpp"
#include "report/report_runs.hpp"
#include "report/summary_csv.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace lumos {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using report_detail::ReportItem;
using report_detail::ReportRuns;

// Four significant digits: enough to read and sort by, a third of a full double's text.
json rounded(double value) {
  if (!std::isfinite(value)) return nullptr;
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", value);
  return std::strtod(text, nullptr);
}

json number_of(const json& value) {
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  return value.is_number() ? rounded(value.get<double>()) : json(nullptr);
}

std::string text_of(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A file in the image's own folder: the report reads nothing an explanation.json points to elsewhere.
bool in_folder(const std::string& file) {
  return !file.empty() && file[0] != '.' && file.find('/') == std::string::npos && file.find('\\') == std::string::npos;
}

bool is_picture(const std::string& file) {
  return in_folder(file) && file.size() > 4 && file.compare(file.size() - 4, 4, ".png") == 0;
}

std::string read_bytes(const fs::path& path) { return read_file(path.string(), "report picture", kMaxImageFileBytes); }

std::string base64(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += alphabet[(v >> shift) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string data_uri(const std::string& type, const std::string& bytes) {
  return "data:image/" + type + ";base64," + base64(bytes);
}

// A picture file as 8-bit RGB, empty when it cannot be decoded (read as any image is: a
// regular file, its size checked from the header, the decoder's messages kept off stderr).
cv::Mat decoded_rgb(const fs::path& path) {
  try {
    return Image::load(path.string()).pixels();
  } catch (const InputError&) {
    return {};
  }
}

// How the report reaches the pictures: by a path relative to report.html, or embedded. In the
// data, a reference without '/' is a file in its image's folder ("d"); one with '/' is relative
// to report.html; "data:" is the picture itself.
class Pictures {
 public:
  Pictures(fs::path out, bool embed) : out_(std::move(out)), embed_(embed) {}

  // The image folder as the page reaches it ("" when embedding).
  std::string folder(const fs::path& folder) const {
    return embed_ ? std::string() : folder.lexically_relative(out_).generic_string();
  }

  // A full-size picture. Embedded overlays of photos are far smaller as JPEG (quality 90).
  std::string picture(const fs::path& folder, const std::string& file) const {
    if (!embed_) return file;
    const std::string png = read_bytes(folder / file);
    if (png.size() > 48 * 1024) {
      const cv::Mat pixels = decoded_rgb(folder / file);
      if (!pixels.empty()) {
        const std::string jpeg = encode_jpeg(pixels, 90);
        if (jpeg.size() < png.size()) return data_uri("jpeg", jpeg);
      }
    }
    return data_uri("png", png);
  }

  // The thumbnail of `picture`: the one the run wrote, else one made now (under
  // out/thumbnails/<run>/<folder>/ for a linked report). "" when the picture is missing.
  std::string thumbnail(size_t run, const fs::path& folder, const std::string& picture, std::string listed) {
    if (!in_folder(listed)) listed = thumbnail_file(picture);
    if (fs::exists(folder / listed)) return embed_ ? data_uri("jpeg", read_bytes(folder / listed)) : listed;
    const cv::Mat pixels = decoded_rgb(folder / picture);
    if (pixels.empty()) {
      missing_.push_back((folder / picture).string());
      return "";
    }
    const std::string jpeg = encode_jpeg(lumos::thumbnail(pixels));
    if (embed_) return data_uri("jpeg", jpeg);
    const fs::path made = out_ / "thumbnails" / std::to_string(run) / folder.filename() / listed;
    fs::create_directories(made.parent_path());
    write_file_atomically(made.string(), {jpeg});
    return made.lexically_relative(out_).generic_string();
  }

  const std::vector<std::string>& missing() const { return missing_; }

 private:
  fs::path out_;
  bool embed_;
  std::vector<std::string> missing_;
};

// The gallery's data: runs, the distinct settings, the methods with the numbers they have, and
// one compact entry per image (keys in docs/report.md).
class GalleryData {
 public:
  GalleryData(const ReportRuns& runs, Pictures& pictures) : runs_(runs), pictures_(pictures) {}

  json build(const std::string& title) {
    json images = json::array();
    for (const auto& item : runs_.items) images.push_back(image_entry(item));
    json runs = json::array();
    for (const auto& run : runs_.runs) runs.push_back(run.given);
    json methods = json::array();
    for (const auto& name : method_order_) {
      const auto& numbers = numbers_[name];
      methods.push_back({{"name", name},
                         {"title", method_title(name)},
                         {"numbers", std::vector<std::string>(numbers.begin(), numbers.end())}});
    }
    return {{"title", title},
            {"runs", runs},
            {"settings", settings_},
            {"methods", methods},
            {"notes", runs_.notes},
            {"images", images}};
  }

 private:
  size_t method_index(const std::string& name) {
    const auto [it, added] = method_index_.emplace(name, method_order_.size());
    if (added) method_order_.push_back(name);
    return it->second;
  }

  size_t settings_index(const json& record) {
    const json settings = report_detail::settings_of(record);
    const auto [it, added] = settings_index_.emplace(settings.dump(), settings_.size());
    if (added) settings_.push_back(settings);
    return it->second;
  }

  json method_entry(const ReportItem& item, const json& method) {
    const std::string name = text_of(method, "method");
    json entry{{"k", method_index(name)}};
    json numbers = json::object(), pictures = json::object();
    for (const auto& [key, value] : method.items()) {
      if (key == "method" || key == "thumbnail") continue;
      if (key == "file") {
        if (is_picture(value.get<std::string>())) entry["f"] = pictures_.picture(item.folder, value.get<std::string>());
      } else if (key == "time_ms") {
        entry["ms"] = number_of(value);
      } else if (key == "empty") {
        if (value.is_boolean() && value.get<bool>()) entry["e"] = 1;
      } else if (key == "warning") {
        entry["w"] = value;
      } else if (key == "timings_ms" && value.is_object()) {
        json parts = json::object();
        for (const auto& [part, ms] : value.items()) parts[part] = number_of(ms);
        entry["tp"] = parts;
      } else if (key == "weights" && value.is_array()) {
        json weights = json::array();
        for (const auto& w : value) weights.push_back({w.value("segment", -1), number_of(w.value("weight", 0.0))});
        entry["wt"] = weights;
      } else if (value.is_number() || value.is_boolean()) {
        numbers[key] = number_of(value);
        numbers_[name].insert(key);
      } else if (value.is_string() && is_picture(value.get<std::string>())) {
        pictures[key] = pictures_.picture(item.folder, value.get<std::string>());
      }
    }
    const std::string file = text_of(method, "file");
    if (is_picture(file)) entry["th"] = pictures_.thumbnail(item.run, item.folder, file, text_of(method, "thumbnail"));
    if (!numbers.empty()) entry["x"] = numbers;
    if (!pictures.empty()) entry["pic"] = pictures;
    return entry;
  }

  static json class_of(const json& p) {
    const int64_t index = p.value("class", int64_t{-1});
    return json{index, class_name(index, text_of(p, "label")), number_of(p.value("probability", 0.0)),
                number_of(p.value("score", 0.0))};
  }

  json image_entry(const ReportItem& item) {
    json entry{{"i", item.image}, {"r", item.run}};
    if (item.folder.empty()) {
      entry["err"] = item.error.empty() ? "not explained" : item.error;
      return entry;
    }
    const json& record = item.record;
    entry["s"] = settings_index(record);
    entry["d"] = pictures_.folder(item.folder);
    if (record.contains("size")) entry["z"] = record["size"];
    entry["in"] = pictures_.picture(item.folder, "input.png");
    entry["th"] = pictures_.thumbnail(item.run, item.folder, "input.png", text_of(record, "thumbnail"));
    json predictions = json::array();
    for (const auto& p : record.value("predictions", json::array())) predictions.push_back(class_of(p));
    entry["p"] = predictions;
    if (record.contains("boxes")) entry["b"] = record["boxes"];
    json targets = json::array();
    for (const auto& target : record["targets"]) {
      json t = class_of(target);
      json methods = json::array();
      for (const auto& method : target.value("methods", json::array())) methods.push_back(method_entry(item, method));
      targets.push_back({{"c", t[0]}, {"l", t[1]}, {"p", t[2]}, {"s", t[3]}, {"m", methods}});
    }
    entry["t"] = targets;
    return entry;
  }

  const ReportRuns& runs_;
  Pictures& pictures_;
  std::vector<json> settings_;
  std::map<std::string, size_t> settings_index_;
  std::vector<std::string> method_order_;
  std::map<std::string, size_t> method_index_;
  std::map<std::string, std::set<std::string>> numbers_;
};

std::string default_title(const ReportRuns& runs) {
  std::set<std::string> models;
  for (const auto& item : runs.items) {
    if (!item.folder.empty()) models.insert(fs::path(text_of(item.record, "model")).filename().string());
  }
  return models.size() == 1 && !models.begin()->empty() ? "lumos — " + *models.begin() : "lumos report";
}

// The data as a script: `<` escaped so that no text in it can end the <script> element.
std::string data_script(const json& data) {
  const std::string text = data.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out = "LUMOS_DATA=";
  out.reserve(text.size() + 32);
  for (char c : text) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out + ";\n";
}

}  // namespace

ReportWritten write_report(const std::vector<std::string>& run_folders, const std::string& out,
                           const ReportOptions& options) {
  const ReportRuns runs = report_detail::read_runs(run_folders);
  const fs::path out_dir = fs::absolute(out).lexically_normal();
  std::error_code error;
  fs::create_directories(out_dir, error);
  if (!fs::is_directory(out_dir)) throw Error("cannot make the report folder '" + out + "' — check the path");

  ReportWritten written;
  written.images = runs.items.size();
  for (const auto& item : runs.items) written.failed += item.folder.empty() ? 1 : 0;
  written.self_contained = options.self_contained.value_or(runs.items.size() <= kSelfContainedImages);
  written.notes = runs.notes;

  Pictures pictures(out_dir, written.self_contained);
  const json data = GalleryData(runs, pictures).build(options.title.empty() ? default_title(runs) : options.title);
  if (!pictures.missing().empty()) {
    written.notes.push_back(std::to_string(pictures.missing().size()) + " pictures are missing, e.g. '" +
                            pictures.missing().front() + "'");
  }
  const std::string script = data_script(data);
  const std::string title = data["title"].get<std::string>();
  const fs::path html = out_dir / "report.html";
  if (written.self_contained) {
    write_file_atomically(html.string(), {report_detail::gallery_page(title, "<script>" + script + "</script>")});
  } else {
    const fs::path data_file = out_dir / "report_data.js";
    write_file_atomically(data_file.string(), {script});
    write_file_atomically(html.string(), {report_detail::gallery_page(title, "<script src=\"report_data.js\"></script>")});
    written.data = data_file.string();
  }
  const fs::path csv = out_dir / "summary.csv";
  write_file_atomically(csv.string(), {report_detail::summary_csv(runs, out_dir)});
  written.html = html.string();
  written.csv = csv.string();
  return written;
}

}  // namespace lumos
