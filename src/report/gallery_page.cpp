// The gallery page from its template (src/report/gallery/gallery.html, .css, .js; CMake turns
// them into gallery_assets.cpp).
#include "report/gallery_page.hpp"

#include <stdexcept>

namespace lumos::report_detail {

extern const char* const kGalleryHtml;
extern const char* const kGalleryCss;
extern const char* const kGalleryJs;

namespace {

void replace_once(std::string& text, const std::string& marker, const std::string& with) {
  const size_t at = text.find(marker);
  if (at == std::string::npos) throw std::logic_error("the gallery template lacks " + marker);
  text.replace(at, marker.size(), with);
}

}  // namespace

std::string html_escaped(const std::string& text) {
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

std::string gallery_page(const std::string& title, const std::string& data) {
  std::string page = kGalleryHtml;
  // The data goes in last: nothing in it is taken for a marker.
  replace_once(page, "<!--TITLE-->", html_escaped(title));
  replace_once(page, "/*STYLE*/", kGalleryCss);
  replace_once(page, "/*SCRIPT*/", kGalleryJs);
  replace_once(page, "<!--DATA-->", data);
  return page;
}

}  // namespace lumos::report_detail
