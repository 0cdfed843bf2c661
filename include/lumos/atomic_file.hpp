// Writing output files so that no reader ever sees a half-written one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lumos {

// Writes the parts, in order, to a temporary file in the target's directory, then
// renames it over `path`. On any failure the temporary file is removed, `path` is left
// as it was, and lumos::Error is thrown naming the file and the reason.
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& parts);

// A folder filled under a hidden name (".NAME.partial") and renamed to NAME by commit(), so
// an error or Ctrl-C never leaves a half-filled folder: without commit() the destructor
// removes it. A folder NAME already there is replaced on commit.
class StagedFolder {
 public:
  // Throws lumos::Error when the hidden folder cannot be made.
  StagedFolder(const std::string& parent, const std::string& name);
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;
  ~StagedFolder();

  // Where to write the file `name` now.
  std::string file(const std::string& name) const;
  // Where the folder will be once committed.
  const std::string& path() const { return final_; }
  // Throws lumos::Error when the folder cannot be renamed into place.
  void commit();

 private:
  std::string final_, staging_;
  bool committed_ = false;
};

}  // namespace lumos
