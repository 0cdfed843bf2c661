// report.html: the gallery page (src/report/gallery/: its HTML, CSS and script, compiled in).
#pragma once

#include <string>

namespace lumos::report_detail {

// The page titled `title` (escaped here) with `data` — the <script> element that defines
// LUMOS_DATA — in place, its style and script inline: it loads nothing from the network.
std::string gallery_page(const std::string& title, const std::string& data);

// `text` with &, <, >, " as HTML entities.
std::string html_escaped(const std::string& text);

}  // namespace lumos::report_detail
