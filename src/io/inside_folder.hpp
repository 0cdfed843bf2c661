// Files a model names by a path relative to its own folder (ONNX external data, TF.js
// weight shards): only files really inside that folder, so that a model cannot make
// lumos read, or tell the size of, any other file on the machine.
#pragma once

#include <string>

namespace lumos {

struct FileInFolder {
  std::string path;     // the real path (symbolic links followed); empty if there is no such file
  std::string outside;  // why the name leads out of the folder ("is an absolute path"), else empty
};

// `relative` resolved in `folder`: a relative path without "..", whose real path is still
// inside the folder's real path. An empty `relative` is no file.
FileInFolder file_in_folder(const std::string& folder, const std::string& relative);

}  // namespace lumos
