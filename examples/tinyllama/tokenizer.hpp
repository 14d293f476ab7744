// examples/tinyllama/tokenizer.hpp — the llama2.c tokenizer (tok512.bin), encoding exactly as
// run.c's encode() does.
//
// File layout (llama2.c tokenizer.py export): uint32 max_token_length, then vocab_size times
// { float32 score, int32 len, len bytes }. vocab_size is not stored; it comes from the model.
//
// Encoding rule (run.c, data/stories260K/README.md):
//   1. BOS (id 1) first, when asked for.
//   2. For non-empty text, the id of " " as a dummy prefix (SentencePiece's add_dummy_prefix).
//   3. Each UTF-8 code point (a lead byte plus up to 3 continuation bytes) becomes its piece if
//      the vocabulary has it, else one byte-fallback id per byte: id = byte + 3.
//   4. Repeatedly merge the adjacent pair whose concatenated piece strings form a vocabulary
//      entry with the highest score, leftmost on ties, until no pair merges. As in run.c the
//      pair string is vocab[a] + vocab[b] of the current ids (byte ids spell "<0xAB>"), and the
//      BOS id takes part in the scan like any other.
//   5. EOS (id 2) last, when asked for.
// run.c rescans the whole sequence after each merge (quadratic). Here a max-heap of candidate
// pairs, ordered by (score, then leftmost position), with stale entries skipped, performs the
// same merges in the same order in O(n log n): a merge only changes the two pairs around it,
// and original positions keep their left-to-right order. tests/examples/tinyllama_test.cpp
// checks this against a literal quadratic port on real text.
#pragma once

#include "model.hpp"

#include <lowbit/error.hpp>

#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tinyllama {

class tokenizer {
 public:
  static constexpr int unk_id = 0;
  static constexpr int bos_id = 1;
  static constexpr int eos_id = 2;
  static constexpr int byte_offset = 3;  // byte b is id b + 3

  // Loads `path` holding exactly `vocab_size` entries. Throws lowbit::error naming the file
  // when it is missing, truncated, has a negative or over-long piece length, a NaN score, or
  // bytes left over after the last entry (a tokenizer for a different vocabulary size).
  static tokenizer load(const std::string& path, int vocab_size) {
    LOWBIT_CHECK(vocab_size > byte_offset + 255, "tokenizer '", path, "': vocab_size ", vocab_size,
                 " is too small for the byte-fallback pieces");
    const std::vector<char> bytes = detail::read_file(path, "tokenizer");
    detail::reader in(bytes, path);
    tokenizer t;
    t.path_ = path;
    const std::uint32_t max_len = in.get<std::uint32_t>("max_token_length");
    LOWBIT_CHECK(max_len > 0 && max_len <= 4096, "'", path, "': max_token_length ", max_len, " is out of range");
    t.max_token_length_ = static_cast<int>(max_len);
    t.pieces_.resize(static_cast<std::size_t>(vocab_size));
    t.scores_.resize(static_cast<std::size_t>(vocab_size));
    for (int i = 0; i < vocab_size; ++i) {
      const float score = in.get<float>("a token score");
      const std::int32_t len = in.get<std::int32_t>("a token length");
      LOWBIT_CHECK(std::isfinite(score), "'", path, "': token ", i, " has a non-finite score");
      LOWBIT_CHECK(len > 0 && len <= t.max_token_length_, "'", path, "': token ", i, " has length ", len,
                   ", outside 1..max_token_length (", t.max_token_length_, ")");
      std::string piece(static_cast<std::size_t>(len), '\0');
      in.bytes(piece.data(), piece.size(), "a token's bytes");
      t.scores_[static_cast<std::size_t>(i)] = score;
      t.ids_.emplace(piece, i);  // first id wins should a piece repeat (tok512 has none)
      t.pieces_[static_cast<std::size_t>(i)] = std::move(piece);
    }
    LOWBIT_CHECK(in.remaining() == 0, "'", path, "': ", in.remaining(), " bytes after the ", vocab_size,
                 " tokens the model expects (tokenizer for another vocabulary size?)");
    t.space_id_ = t.find(" ");
    LOWBIT_CHECK(t.space_id_ >= 0, "'", path, "': no \" \" piece for the dummy prefix");
    return t;
  }

  int vocab_size() const { return static_cast<int>(pieces_.size()); }
  int max_token_length() const { return max_token_length_; }
  const std::string& piece(int id) const { return pieces_.at(static_cast<std::size_t>(id)); }
  float score(int id) const { return scores_.at(static_cast<std::size_t>(id)); }
  const std::string& path() const { return path_; }
  // Id of an exact piece, or -1.
  int find(std::string_view s) const {
    const auto it = ids_.find(std::string(s));
    return it == ids_.end() ? -1 : it->second;
  }

  // The initial tokens of step 1-3 (before any merge).
  std::vector<int> pre_tokens(std::string_view text, bool bos) const {
    std::vector<int> out;
    out.reserve(text.size() + 2);
    if (bos) out.push_back(bos_id);
    if (!text.empty()) out.push_back(space_id_);
    std::size_t i = 0;
    while (i < text.size()) {
      std::size_t n = 1;  // a byte, then its continuation bytes (10xxxxxx), at most 4 in all
      while (n < 4 && i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
      const int id = find(text.substr(i, n));
      if (id >= 0) {
        out.push_back(id);
      } else {
        for (std::size_t j = 0; j < n; ++j) out.push_back(static_cast<unsigned char>(text[i + j]) + byte_offset);
      }
      i += n;
    }
    return out;
  }

  std::vector<int> encode(std::string_view text, bool bos = true, bool eos = false) const {
    std::vector<int> tok = pre_tokens(text, bos);
    merge(tok);
    if (eos) tok.push_back(eos_id);
    return tok;
  }

  // The bytes token `id` stands for after `prev`, as run.c decode(): a byte piece "<0xAB>" is
  // the byte 0xAB, and the leading space of the first piece after BOS is dropped.
  std::string decode(int prev, int id) const {
    const std::string& p = piece(id);
    if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>') {
      const int hi = hex(p[3]), lo = hex(p[4]);
      if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
    }
    if (prev == bos_id && !p.empty() && p[0] == ' ') return p.substr(1);
    return p;
  }
  std::string decode(const std::vector<int>& ids, int prev = bos_id) const {
    std::string s;
    for (int id : ids) {
      s += decode(prev, id);
      prev = id;
    }
    return s;
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  // Step 4 on a doubly linked list of symbols; see the header comment.
  void merge(std::vector<int>& tok) const {
    const int n = static_cast<int>(tok.size());
    if (n < 2) return;
    std::vector<int> prev(static_cast<std::size_t>(n)), next(static_cast<std::size_t>(n));
    std::vector<char> alive(static_cast<std::size_t>(n), 1);
    for (int i = 0; i < n; ++i) {
      prev[static_cast<std::size_t>(i)] = i - 1;
      next[static_cast<std::size_t>(i)] = i + 1 < n ? i + 1 : -1;
    }
    struct candidate {
      float score;
      int left, right;            // positions
      int left_id, right_id, id;  // ids when pushed, and the merged id
    };
    const auto worse = [](const candidate& a, const candidate& b) {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<candidate, std::vector<candidate>, decltype(worse)> heap(worse);
    std::string buf;
    const auto push = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      const int a = tok[static_cast<std::size_t>(l)], b = tok[static_cast<std::size_t>(r)];
      buf = pieces_[static_cast<std::size_t>(a)];
      buf += pieces_[static_cast<std::size_t>(b)];
      const auto it = ids_.find(buf);
      // run.c starts its best score at -1e10 and needs strictly more.
      if (it != ids_.end() && scores_[static_cast<std::size_t>(it->second)] > -1e10f)
        heap.push({scores_[static_cast<std::size_t>(it->second)], l, r, a, b, it->second});
    };
    for (int i = 0; i + 1 < n; ++i) push(i, i + 1);
    while (!heap.empty()) {
      const candidate c = heap.top();
      heap.pop();
      const auto l = static_cast<std::size_t>(c.left), r = static_cast<std::size_t>(c.right);
      if (!alive[l] || !alive[r] || next[l] != c.right || tok[l] != c.left_id || tok[r] != c.right_id) continue;
      tok[l] = c.id;
      alive[r] = 0;
      next[l] = next[r];
      if (next[r] >= 0) prev[static_cast<std::size_t>(next[r])] = c.left;
      push(prev[l], c.left);
      push(c.left, next[l]);
    }
    std::size_t w = 0;
    for (int i = 0; i >= 0; i = next[static_cast<std::size_t>(i)]) tok[w++] = tok[static_cast<std::size_t>(i)];
    tok.resize(w);
  }

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int> ids_;
  std::string path_;
  int max_token_length_ = 0;
  int space_id_ = -1;
};

}  // namespace tinyllama
