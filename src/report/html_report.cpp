#include "lumos/report.hpp"

#include "lumos/atomic_file.hpp"
#include "lumos/error.hpp"
#include "lumos/file.hpp"

#include <iomanip>
#include <sstream>

namespace lumos {
namespace {

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

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

std::string embedded_png(const std::string& path) {
  return "data:image/png;base64," + base64(read_file(path, "report picture", kMaxImageFileBytes));
}

constexpr const char* kStyle = R"(
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; background: #fafafa; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
.settings { color: #555; font-size: .85rem; margin-bottom: 1.5rem; }
.settings span { margin-right: 1.2rem; }
section { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 1rem 1.2rem; margin-bottom: 1.5rem; }
h2 { font-size: 1.1rem; margin: 0 0 .6rem; }
.row { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
figure { margin: 0; width: 224px; }
figure img { width: 224px; height: auto; border-radius: 4px; display: block; }
figcaption { font-size: .8rem; margin-top: .3rem; }
figcaption b { display: block; font-size: .9rem; }
table.predictions { font-size: .85rem; border-collapse: collapse; }
table.predictions td { padding: .1rem .6rem .1rem 0; }
.bar { display: inline-block; height: .6rem; background: #4a7bd0; border-radius: 2px; }
.error { color: #b00020; }
.facts { color: #555; }
)";

}  // namespace

void write_html_report(const std::string& path, const ReportRun& run) {
  std::ostringstream html;
  html << std::fixed;
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << escape(run.title)
       << "</title><style>" << kStyle << "</style></head><body>\n<h1>" << escape(run.title) << "</h1>\n<div class=\"settings\">";
  for (const auto& [key, value] : run.settings) html << "<span><b>" << escape(key) << ":</b> " << escape(value) << "</span>";
  html << "</div>\n";
  for (const auto& image : run.images) {
    html << "<section><h2>" << escape(image.name) << "</h2>\n";
    if (!image.error.empty()) html << "<p class=\"error\">" << escape(image.error) << "</p>\n";
    html << "<div class=\"row\">";
    if (!image.source_png.empty()) {
      html << "<figure><img alt=\"input\" src=\"" << embedded_png(image.source_png) << "\"><figcaption><b>input</b>";
      if (!image.target.empty()) html << "explained: " << escape(image.target);
      html << "</figcaption></figure>";
    }
    if (!image.predictions.empty()) {
      html << "<figure><table class=\"predictions\">";
      for (const auto& p : image.predictions) {
        const double width = std::max(0.0, std::min(1.0, p.score)) * 80;
        html << "<tr><td>" << escape(p.label) << "</td><td>" << std::setprecision(3) << p.score
             << "</td><td><span class=\"bar\" style=\"width:" << std::setprecision(0) << width << "px\"></span></td></tr>";
      }
      html << "</table><figcaption><b>top predictions</b></figcaption></figure>";
    }
    for (const auto& panel : image.panels) {
      html << "<figure><img alt=\"" << escape(panel.title) << "\" src=\"" << embedded_png(panel.png_path)
           << "\"><figcaption><b>" << escape(panel.title) << "</b><span class=\"facts\">";
      for (size_t i = 0; i < panel.facts.size(); ++i) {
        html << (i ? " · " : "") << escape(panel.facts[i].first) << " " << escape(panel.facts[i].second);
      }
      html << "</span></figcaption></figure>";
    }
    html << "</div></section>\n";
  }
  html << "</body></html>\n";
  const std::string text = html.str();
  write_file_atomically(path, {text});
}

}  // namespace lumos
