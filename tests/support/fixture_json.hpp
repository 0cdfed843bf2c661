// Reads a JSON file that a fixture script wrote into LUMOS_FIXTURES.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace lumos::testing {

// A missing file fails the test, naming the script that makes it, and reads as an empty object.
inline nlohmann::json read_fixture_json(const std::string& file, const std::string& script) {
  std::ifstream in(std::filesystem::path(LUMOS_FIXTURES) / file);
  if (!in) {
    ADD_FAILURE() << "missing " << LUMOS_FIXTURES << "/" << file << ": run /usr/bin/python3 tests/fixtures/" << script
                  << " build/fixtures";
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(in);
}

}  // namespace lumos::testing
