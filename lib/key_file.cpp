// chrony key-file parsing: see key_file.hpp.
#include "lib/key_file.hpp"

#include <algorithm>
#include <set>

namespace gnomon {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

bool parse_id(std::string_view s, std::uint32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > 0xFFFFFFFFull) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ASCII:, HEX: or bare text. Empty result = undecodable.
std::vector<std::uint8_t> decode_key(std::string_view s) {
  std::vector<std::uint8_t> out;
  if (s.starts_with("HEX:")) {
    s.remove_prefix(4);
    if (s.size() % 2 != 0) return {};
    out.reserve(s.size() / 2);
    for (std::size_t i = 0; i < s.size(); i += 2) {
      const int hi = hex_value(s[i]);
      const int lo = hex_value(s[i + 1]);
      if (hi < 0 || lo < 0) {
        std::fill(out.begin(), out.end(), std::uint8_t{0});
        return {};
      }
      out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
  }
  if (s.starts_with("ASCII:")) s.remove_prefix(6);
  out.assign(s.begin(), s.end());
  return out;
}

}  // namespace

ParsedKeyFile parse_key_file(std::string_view text) {
  ParsedKeyFile result;
  auto warn = [&](std::size_t line, std::string msg) {
    result.messages.push_back(KeyFileMessage{line, true, std::move(msg)});
  };
  std::set<std::uint32_t> seen;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;

    if (line.size() > kMaxKeyFileLine) {
      warn(line_no, "line longer than " + std::to_string(kMaxKeyFileLine) + " bytes; skipped");
      continue;
    }
    if (line.find('\0') != std::string_view::npos) {
      warn(line_no, "NUL byte in line; skipped");
      continue;
    }
    const auto words = split_words(line);
    if (words.empty()) continue;
    const char first = words[0].front();
    if (first == '#' || first == ';' || first == '!' || first == '%') continue;

    std::uint32_t id = 0;
    if (words.size() < 2 || words.size() > 3 || !parse_id(words[0], id)) {
      warn(line_no, "could not parse key (expected 'ID TYPE KEY' or 'ID KEY'); skipped");
      continue;
    }
    const std::string_view type_name = words.size() == 3 ? words[1] : std::string_view("MD5");
    const std::string_view value = words.size() == 3 ? words[2] : words[1];
    const std::string id_text = std::to_string(id);

    const auto algorithm = mac_algorithm_from_name(type_name);
    if (!algorithm) {
      warn(line_no, "invalid type in key " + id_text +
                        " (allowed: MD5, SHA1, SHA256, SHA384, SHA512, SHA3-224, SHA3-256, "
                        "SHA3-384, SHA3-512, AES128, AES256); skipped");
      continue;
    }
    SecretBytes secret(decode_key(value));
    if (secret.size() == 0) {
      warn(line_no, "could not decode key " + id_text + " (ASCII:text or HEX:digits); skipped");
      continue;
    }
    const std::size_t need = required_key_len(*algorithm);
    if (need != 0 && secret.size() != need) {
      warn(line_no, "invalid length of " + std::string(to_string(*algorithm)) + " key " + id_text +
                        " (expected " + std::to_string(8 * need) + " bits); skipped");
      continue;
    }
    if (secret.size() < kMinSecureKeyLen) {
      warn(line_no, "key " + id_text + " is too short (less than 80 bits)");
    }
    if (!seen.insert(id).second) {
      warn(line_no, "duplicate key " + id_text + "; the first one is used");
    }
    result.keys.push_back(SymmetricKey{id, *algorithm, std::move(secret)});
  }
  return result;
}

}  // namespace gnomon
