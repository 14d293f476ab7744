// examples/tinyllama/model.hpp — a llama2.c checkpoint ("version 0", export.py legacy_export)
// loaded into Eigen matrices, with strict validation.
//
// File layout (data/stories260K/README.md): 7 × int32 header
//   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
// (vocab_size < 0: a separate classifier is appended), then float32 little-endian, each
// matrix row-major [out][in] like PyTorch's nn.Linear.weight:
//   token_embedding[vocab][dim], rms_att[L][dim], wq[L][dim][dim], wk[L][kv_dim][dim],
//   wv[L][kv_dim][dim], wo[L][dim][dim], rms_ffn[L][dim], w1[L][hidden][dim],
//   w2[L][dim][hidden], w3[L][hidden][dim], rms_final[dim],
//   freq_cis_real[seq_len][hs/2], freq_cis_imag[seq_len][hs/2] (unused: RoPE is recomputed),
//   (wcls[vocab][dim] when vocab_size < 0).
//
// Every weight is a plain, mutable Eigen matrix in the same [out][in] = N×K orientation, so a
// quantization recipe copies a `model` and overwrites e.g. `layers[l].wq` with its
// quantized-then-dequantized (or folded) version.
#pragma once

#include <lowbit/error.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace tinyllama {

// Row-major float matrix: rows are tokens (activations) or output channels (weights), and the
// contiguous axis is K, the reduction axis of every linear.
using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using vector = Eigen::VectorXf;

struct config {
  int dim = 0;         // residual stream width
  int hidden_dim = 0;  // SwiGLU width
  int n_layers = 0;
  int n_heads = 0;     // query heads
  int n_kv_heads = 0;  // key/value heads (grouped-query attention)
  int vocab_size = 0;  // always positive here
  int seq_len = 0;     // longest sequence the model was trained on
  bool shared_classifier = true;  // file stored no separate wcls (header vocab_size > 0)

  int head_size() const { return dim / n_heads; }
  int kv_dim() const { return n_kv_heads * head_size(); }
  int kv_mul() const { return n_heads / n_kv_heads; }  // query heads per K/V head
};

// The linears of one transformer block, each N×K = [out][in].
struct layer_weights {
  vector rms_att;  // dim
  matrix wq;       // dim × dim          (n_heads·hs × dim)
  matrix wk;       // kv_dim × dim
  matrix wv;       // kv_dim × dim
  matrix wo;       // dim × dim          (dim × n_heads·hs)
  vector rms_ffn;  // dim
  matrix w1;       // hidden × dim  (gate)
  matrix w2;       // dim × hidden  (down)
  matrix w3;       // hidden × dim  (up)
};

struct model {
  config cfg;
  matrix token_embedding;  // vocab × dim (the embedding lookup)
  std::vector<layer_weights> layers;
  vector rms_final;  // dim
  // vocab × dim. A copy of token_embedding when the file ties them (stories260K), kept apart so
  // a recipe can quantize the classifier without touching the embedding lookup.
  matrix classifier;
  std::string path;  // file it was loaded from

  // Weight parameters as the file counts them (tied classifier counted once).
  std::int64_t parameter_count() const {
    std::int64_t n = token_embedding.size() + rms_final.size();
    if (!cfg.shared_classifier) n += classifier.size();
    for (const auto& l : layers)
      n += l.rms_att.size() + l.wq.size() + l.wk.size() + l.wv.size() + l.wo.size() + l.rms_ffn.size() +
           l.w1.size() + l.w2.size() + l.w3.size();
    return n;
  }
};

namespace detail {

inline std::vector<char> read_file(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  LOWBIT_CHECK(f.good(), "cannot open ", what, " '", path, "'");
  const std::streamsize size = f.tellg();
  LOWBIT_CHECK(size >= 0, "cannot determine the size of ", what, " '", path, "'");
  std::vector<char> bytes(static_cast<std::size_t>(size));
  f.seekg(0);
  LOWBIT_CHECK(f.read(bytes.data(), size).good() || size == 0, "cannot read ", what, " '", path, "'");
  return bytes;
}

// Sequential little-endian reader over a byte buffer that names its file in every error.
class reader {
 public:
  reader(const std::vector<char>& bytes, const std::string& path) : bytes_(bytes), path_(path) {}
  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }
  template <class T>
  T get(const char* what) {
    LOWBIT_CHECK(remaining() >= sizeof(T), "'", path_, "': truncated: ", what, " needs ", sizeof(T),
                 " bytes at offset ", pos_, " but the file has ", bytes_.size(), " bytes");
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  void bytes(void* dst, std::size_t n, const char* what) {
    LOWBIT_CHECK(remaining() >= n, "'", path_, "': truncated: ", what, " needs ", n, " bytes at offset ", pos_,
                 " but the file has ", bytes_.size(), " bytes");
    if (n) std::memcpy(dst, bytes_.data() + pos_, n);
    pos_ += n;
  }
  // Reads rows×cols float32, row-major, and rejects NaN/Inf.
  matrix floats(Eigen::Index rows, Eigen::Index cols, const char* what) {
    matrix m(rows, cols);
    bytes(m.data(), sizeof(float) * static_cast<std::size_t>(m.size()), what);
    LOWBIT_CHECK(m.allFinite(), "'", path_, "': ", what, " contains NaN or Inf");
    return m;
  }
  vector floats(Eigen::Index n, const char* what) {
    matrix m = floats(1, n, what);
    return m.row(0).transpose();
  }

 private:
  const std::vector<char>& bytes_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

static_assert(sizeof(float) == 4 && sizeof(std::int32_t) == 4, "tinyllama: 32-bit float and int32 expected");

}  // namespace detail

// Loads and validates a llama2.c checkpoint. Throws lowbit::error naming `path` when the file is
// missing, too short for its header, has non-positive or inconsistent dimensions, when its size
// is not exactly what the header implies, or when a weight is NaN/Inf.
inline model load_model(const std::string& path) {
  const std::vector<char> bytes = detail::read_file(path, "model checkpoint");
  detail::reader in(bytes, path);
  std::int32_t h[7];
  for (auto& v : h) v = in.get<std::int32_t>("the 7 × int32 header");

  config c;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.shared_classifier = h[5] > 0;
  c.vocab_size = h[5] == INT32_MIN ? 0 : std::abs(h[5]);
  c.seq_len = h[6];
  const auto header_text = [&] {
    return "header (dim " + std::to_string(h[0]) + ", hidden_dim " + std::to_string(h[1]) + ", n_layers " +
           std::to_string(h[2]) + ", n_heads " + std::to_string(h[3]) + ", n_kv_heads " + std::to_string(h[4]) +
           ", vocab_size " + std::to_string(h[5]) + ", seq_len " + std::to_string(h[6]) + ")";
  };
  // Bounds keep every size product below 2^62, so the length check below cannot overflow.
  const auto in_range = [](std::int64_t v, std::int64_t hi) { return v > 0 && v <= hi; };
  LOWBIT_CHECK(in_range(c.dim, 1 << 20) && in_range(c.hidden_dim, 1 << 20) && in_range(c.n_layers, 1 << 12) &&
                   in_range(c.n_heads, 1 << 12) && in_range(c.n_kv_heads, 1 << 12) &&
                   in_range(c.vocab_size, 1 << 24) && in_range(c.seq_len, 1 << 24),
               "'", path, "': ", header_text(), ": every dimension must be positive (and sane)");
  LOWBIT_CHECK(c.dim % c.n_heads == 0 && c.head_size() % 2 == 0, "'", path, "': ", header_text(),
               ": dim must split into n_heads heads of even size");
  LOWBIT_CHECK(c.n_kv_heads <= c.n_heads && c.n_heads % c.n_kv_heads == 0, "'", path, "': ", header_text(),
               ": n_heads must be a multiple of n_kv_heads");

  const std::int64_t d = c.dim, hd = c.hidden_dim, L = c.n_layers, V = c.vocab_size, kv = c.kv_dim();
  std::int64_t floats = V * d                                  // token embedding
                        + L * (d + d * d + 2 * kv * d + d * d)  // rms_att, wq, wk, wv, wo
                        + L * (d + 3 * hd * d)                  // rms_ffn, w1, w2, w3
                        + d                                     // rms_final
                        + std::int64_t{c.seq_len} * c.head_size();  // freq_cis_real + imag
  if (!c.shared_classifier) floats += V * d;
  const std::int64_t expected = 7 * 4 + 4 * floats;
  LOWBIT_CHECK(static_cast<std::int64_t>(bytes.size()) == expected, "'", path, "': ", header_text(),
               " implies ", expected, " bytes but the file has ", bytes.size(), " bytes (",
               static_cast<std::int64_t>(bytes.size()) < expected ? "truncated" : "trailing data", ")");

  model m;
  m.cfg = c;
  m.path = path;
  m.token_embedding = in.floats(V, d, "token_embedding");
  m.layers.resize(static_cast<std::size_t>(L));
  for (auto& l : m.layers) l.rms_att = in.floats(d, "rms_att");
  for (auto& l : m.layers) l.wq = in.floats(d, d, "wq");
  for (auto& l : m.layers) l.wk = in.floats(kv, d, "wk");
  for (auto& l : m.layers) l.wv = in.floats(kv, d, "wv");
  for (auto& l : m.layers) l.wo = in.floats(d, d, "wo");
  for (auto& l : m.layers) l.rms_ffn = in.floats(d, "rms_ffn");
  for (auto& l : m.layers) l.w1 = in.floats(hd, d, "w1");
  for (auto& l : m.layers) l.w2 = in.floats(d, hd, "w2");
  for (auto& l : m.layers) l.w3 = in.floats(hd, d, "w3");
  m.rms_final = in.floats(d, "rms_final");
  in.floats(c.seq_len, c.head_size(), "freq_cis_real/imag");  // skipped: RoPE is recomputed
  m.classifier = c.shared_classifier ? m.token_embedding : in.floats(V, d, "wcls");
  LOWBIT_CHECK(in.remaining() == 0, "'", path, "': internal: ", in.remaining(), " bytes left unread");
  return m;
}

}  // namespace tinyllama
