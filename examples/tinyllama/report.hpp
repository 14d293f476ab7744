// examples/tinyllama/report.hpp — the recipes table as aligned text, CSV, JSON and an SVG bar
// chart.
//
// One row per recipe:
//   recipe            name (recipes.hpp)
//   ppl               teacher-forced perplexity over the evaluation windows
//   delta_pct         100·(ppl / ppl_fp32 − 1)
//   weight_bits       stored bits per parameter of the 35 transformer linears (wq..w3 of every
//                     layer), scales and zero points included; embedding, classifier and norms
//                     are not counted (FP32 everywhere unless a recipe says otherwise)
//   kv_bytes_per_token  K and V cache bytes per token over all layers (FP32: 2·L·kv_dim·4)
#pragma once

#include <lowbit/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tinyllama {

struct report_row {
  std::string recipe;
  std::string description;
  double ppl = 0;
  double delta_pct = 0;
  double weight_bits = 32;
  double kv_bytes_per_token = 0;
};

// What the rows were measured on.
struct report_meta {
  std::string model;   // checkpoint path
  std::string text;    // evaluation text path
  int windows = 0;     // evaluation windows
  int window_tokens = 0;
  long long predictions = 0;
  double forward_tokens_per_s = 0;  // FP32, one window
};

namespace detail {

inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
inline std::string signed_fixed(double v, int decimals) { return (v >= 0 ? "+" : "") + fixed(v, decimals); }

inline std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      o += '\\';
      o += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o += ch;
    }
  }
  return o + "\"";
}

inline std::string xml_escape(const std::string& s) {
  std::string o;
  for (const char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (const char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

inline void write_text_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  LOWBIT_CHECK(f.good(), "cannot create '", path.string(), "'");
  f << content;
  f.close();
  LOWBIT_CHECK(f.good(), "cannot write '", path.string(), "'");
}

}  // namespace detail

// Aligned text table.
inline std::string format_table(const std::vector<report_row>& rows) {
  const std::vector<std::string> head = {"recipe", "PPL", "delta %", "W bits/param", "KV bytes/token"};
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows)
    cells.push_back({r.recipe, detail::fixed(r.ppl, 4), detail::signed_fixed(r.delta_pct, 2),
                     detail::fixed(r.weight_bits, 2), detail::fixed(r.kv_bytes_per_token, 1)});
  std::vector<std::size_t> width(head.size());
  for (std::size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& row : cells) width[c] = std::max(width[c], row[c].size());
  }
  std::ostringstream os;
  const auto line = [&](const std::vector<std::string>& v) {
    for (std::size_t c = 0; c < v.size(); ++c) {
      const std::string pad(width[c] - v[c].size(), ' ');
      os << (c ? "  " : "") << (c == 0 ? v[c] + pad : pad + v[c]);  // names left, numbers right
    }
    os << '\n';
  };
  line(head);
  std::size_t total = 2 * (head.size() - 1);
  for (auto w : width) total += w;
  os << std::string(total, '-') << '\n';
  for (const auto& row : cells) line(row);
  return os.str();
}

inline std::string format_csv(const std::vector<report_row>& rows) {
  std::ostringstream os;
  os << "recipe,ppl,delta_pct,weight_bits_per_param,kv_bytes_per_token,description\n";
  for (const auto& r : rows)
    os << detail::csv_field(r.recipe) << ',' << detail::fixed(r.ppl, 6) << ',' << detail::fixed(r.delta_pct, 4) << ','
       << detail::fixed(r.weight_bits, 4) << ',' << detail::fixed(r.kv_bytes_per_token, 2) << ','
       << detail::csv_field(r.description) << '\n';
  return os.str();
}

inline std::string format_json(const report_meta& meta, const std::vector<report_row>& rows) {
  std::ostringstream os;
  os << "{\n  \"model\": " << detail::json_string(meta.model) << ",\n  \"text\": " << detail::json_string(meta.text)
     << ",\n  \"windows\": " << meta.windows << ",\n  \"window_tokens\": " << meta.window_tokens
     << ",\n  \"predictions\": " << meta.predictions
     << ",\n  \"fp32_forward_tokens_per_s\": " << detail::fixed(meta.forward_tokens_per_s, 1) << ",\n  \"recipes\": [";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    os << (i ? "," : "") << "\n    {\"recipe\": " << detail::json_string(r.recipe)
       << ", \"description\": " << detail::json_string(r.description) << ", \"ppl\": " << detail::fixed(r.ppl, 6)
       << ", \"delta_pct\": " << detail::fixed(r.delta_pct, 4) << ", \"weight_bits_per_param\": "
       << detail::fixed(r.weight_bits, 4) << ", \"kv_bytes_per_token\": " << detail::fixed(r.kv_bytes_per_token, 2)
       << "}";
  }
  os << "\n  ]\n}\n";
  return os.str();
}

// Horizontal bars of PPL per recipe, labelled with PPL and delta %, a dashed line at FP32.
inline std::string format_svg(const std::vector<report_row>& rows, const std::string& title) {
  const int bar_h = 22, gap = 8, left = 150, plot_w = 460, top = 48, right = 150;
  const int height = top + static_cast<int>(rows.size()) * (bar_h + gap) + 40;
  double vmax = 0, fp32 = 0;
  for (const auto& r : rows) {
    vmax = std::max(vmax, r.ppl);
    if (r.recipe == "fp32") fp32 = r.ppl;
  }
  vmax = vmax > 0 ? vmax * 1.05 : 1;
  const auto x_of = [&](double v) { return left + plot_w * v / vmax; };
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + plot_w + right << "\" height=\"" << height
     << "\" font-family=\"sans-serif\" font-size=\"13\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << left << "\" y=\"24\" font-size=\"15\" font-weight=\"bold\">" << detail::xml_escape(title)
     << "</text>\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    const int y = top + static_cast<int>(i) * (bar_h + gap);
    os << "<text x=\"" << left - 8 << "\" y=\"" << y + bar_h * 0.7 << "\" text-anchor=\"end\">"
       << detail::xml_escape(r.recipe) << "</text>\n"
       << "<rect x=\"" << left << "\" y=\"" << y << "\" width=\"" << detail::fixed(x_of(r.ppl) - left, 1)
       << "\" height=\"" << bar_h << "\" fill=\"" << (r.recipe == "fp32" ? "#777777" : "#3b73b9") << "\"/>\n"
       << "<text x=\"" << detail::fixed(x_of(r.ppl) + 6, 1) << "\" y=\"" << y + bar_h * 0.7 << "\">"
       << detail::fixed(r.ppl, 4) << " (" << detail::signed_fixed(r.delta_pct, 2) << "%)</text>\n";
  }
  const int axis_y = top + static_cast<int>(rows.size()) * (bar_h + gap);
  os << "<line x1=\"" << left << "\" y1=\"" << axis_y << "\" x2=\"" << left + plot_w << "\" y2=\"" << axis_y
     << "\" stroke=\"black\"/>\n"
     << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << axis_y + 28 << "\" text-anchor=\"middle\">"
     << "perplexity (lower is better)</text>\n";
  if (fp32 > 0)
    os << "<line x1=\"" << detail::fixed(x_of(fp32), 1) << "\" y1=\"" << top - 6 << "\" x2=\""
       << detail::fixed(x_of(fp32), 1) << "\" y2=\"" << axis_y << "\" stroke=\"#d04030\" stroke-dasharray=\"4 3\"/>\n";
  os << "</svg>\n";
  return os.str();
}

// Writes results.txt, results.csv, results.json and results.svg into `dir` (created if needed).
// Every file is formatted before the first one is written.
inline std::vector<std::string> write_report(const std::string& dir, const report_meta& meta,
                                             const std::vector<report_row>& rows) {
  LOWBIT_CHECK(!rows.empty(), "empty report");
  const std::string title = "stories260K perplexity by recipe (" + std::to_string(meta.windows) + " windows of " +
                            std::to_string(meta.window_tokens) + " tokens)";
  const std::vector<std::pair<std::string, std::string>> files = {
      {"results.txt", title + "\n\n" + format_table(rows)},
      {"results.csv", format_csv(rows)},
      {"results.json", format_json(meta, rows)},
      {"results.svg", format_svg(rows, title)}};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  LOWBIT_CHECK(!ec, "cannot create output directory '", dir, "': ", ec.message());
  std::vector<std::string> written;
  for (const auto& [name, content] : files) {
    const auto p = std::filesystem::path(dir) / name;
    detail::write_text_file(p, content);
    written.push_back(p.string());
  }
  return written;
}

}  // namespace tinyllama
