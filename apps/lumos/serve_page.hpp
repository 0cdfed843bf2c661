// GET / of `lumos serve`: a page to upload an image and see its explanations
// (apps/lumos/page/serve.html, with the report's style; loads nothing from elsewhere).
#pragma once

#include <string>

namespace lumos::cli {

const std::string& serve_page();

}  // namespace lumos::cli
