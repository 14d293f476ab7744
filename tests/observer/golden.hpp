// tests/observer/golden.hpp — reads the "key n v1 … vn" files (hex floats) that
// make_observer_golden.py writes into tests/observer/data/.
#pragma once

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace golden {

inline std::string data_path(const std::string& name) {
  std::string f = __FILE__;
  return f.substr(0, f.find_last_of("/\\") + 1) + "data/" + name;
}

using table = std::map<std::string, std::vector<double>>;

inline table load(const std::string& name) {
  table t;
  std::ifstream in(data_path(name));
  std::string key, tok;
  std::size_t n;
  while (in >> key >> n) {
    std::vector<double>& v = t[key];
    v.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      in >> tok;
      v[i] = std::strtod(tok.c_str(), nullptr);
    }
  }
  return t;
}

inline std::vector<float> as_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

}  // namespace golden
