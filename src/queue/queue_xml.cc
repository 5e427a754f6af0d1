#include "queue/queue_xml.h"

#include <cstdint>

namespace nimbus::queue {

const XmlElement* XmlElement::child(std::string_view n) const {
  for (auto& c : children)
    if (c.name == n) return &c;
  return nullptr;
}

namespace {

// XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
bool is_xml_char(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

// Decodes one UTF-8 sequence at text[i]; its length, or 0 when malformed (overlong,
// surrogate, truncated, out of range).
size_t decode_utf8(std::string_view text, size_t i, uint32_t& cp) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  size_t n;
  uint32_t min;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

bool is_xml_text(std::string_view text, size_t* bad_offset) {
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    size_t n = decode_utf8(text, i, cp);
    if (n == 0 || !is_xml_char(cp)) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += n;
  }
  return true;
}

namespace {
// Bytes that stand for themselves in XML text: printable ASCII but the five markup characters,
// and tab and line feed. A run of them is appended in one piece; ids, receipts and dates are
// nothing else, and a byte-by-byte append was ~1,700 instructions per element of a put's answer.
constexpr bool plain_xml_byte(unsigned char c) {
  return (c >= 0x20 && c < 0x7f && c != '&' && c != '<' && c != '>' && c != '"' && c != '\'') ||
         c == '\t' || c == '\n';
}
}  // namespace

void append_xml_escaped(std::string& out, std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t run = i;
    while (run < text.size() && plain_xml_byte(static_cast<unsigned char>(text[run]))) ++run;
    if (run > i) {
      out.append(text.data() + i, run - i);
      i = run;
      continue;
    }
    char c = text[i];
    switch (c) {
      case '&': out += "&amp;"; ++i; continue;
      case '<': out += "&lt;"; ++i; continue;
      case '>': out += "&gt;"; ++i; continue;
      case '"': out += "&quot;"; ++i; continue;
      case '\'': out += "&apos;"; ++i; continue;
      case '\r': out += "&#xD;"; ++i; continue;
      default: break;
    }
    uint32_t cp = 0;
    size_t n = decode_utf8(text, i, cp);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else if (!is_xml_char(cp)) {
      out += kReplacement;
      i += n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  append_xml_escaped(out, text);
  return out;
}

namespace {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string hex_byte(char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  auto b = static_cast<unsigned char>(c);
  return std::string("0x") + kHex[b >> 4] + kHex[b & 15];
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  XmlParseResult run() {
    XmlParseResult r;
    // A message stored from such a document would be served back as XML no strict reader
    // accepts. Azure refuses these bodies with 400 as far as we know; that the code is
    // InvalidXmlDocument (what the service uses for every unparsable body) is our reading, not
    // something the reference states.
    if (size_t bad = 0; !is_xml_text(s_, &bad)) {
      pos_ = bad;
      error_ = static_cast<unsigned char>(s_[bad]) < 0x80
                   ? "control character " + hex_byte(s_[bad]) +
                         " is not allowed in XML (only tab, LF and CR are); base64-encode "
                         "binary or control text"
                   : "the bytes are not valid UTF-8 (" + hex_byte(s_[bad]) +
                         "); send UTF-8 text, base64-encode binary";
      return fail(r);
    }
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // UTF-8 byte order mark
    if (!skip_misc(true)) return fail(r);
    if (pos_ >= s_.size() || s_[pos_] != '<') {
      error_ = "expected the root element";
      return fail(r);
    }
    XmlElement root;
    if (!element(root, 1)) return fail(r);
    if (!skip_misc(false)) return fail(r);
    if (pos_ != s_.size()) {
      error_ = "unexpected content after the root element";
      return fail(r);
    }
    r.root = std::move(root);
    return r;
  }

 private:
  XmlParseResult& fail(XmlParseResult& r) {
    r.error = error_ + " at byte " + std::to_string(pos_);
    return r;
  }

  bool starts(std::string_view p) const { return s_.substr(pos_, p.size()) == p; }

  void skip_space() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }

  // Whitespace, comments, processing instructions (the declaration only at the very start).
  bool skip_misc(bool prolog) {
    for (;;) {
      skip_space();
      if (starts("<?")) {
        auto end = s_.find("?>", pos_);
        if (end == std::string_view::npos) {
          error_ = "unterminated processing instruction";
          return false;
        }
        pos_ = end + 2;
      } else if (starts("<!--")) {
        if (!comment()) return false;
      } else if (starts("<!")) {
        error_ = prolog ? "document type declarations are not accepted" : "unexpected markup";
        return false;
      } else {
        return true;
      }
    }
  }

  bool comment() {
    auto end = s_.find("-->", pos_ + 4);
    if (end == std::string_view::npos) {
      error_ = "unterminated comment";
      return false;
    }
    pos_ = end + 3;
    return true;
  }

  bool name(std::string& out) {
    size_t start = pos_;
    if (pos_ >= s_.size() || !is_name_start(s_[pos_])) {
      error_ = "expected a name";
      return false;
    }
    while (pos_ < s_.size() && is_name_char(s_[pos_])) ++pos_;
    out.assign(s_.substr(start, pos_ - start));
    return true;
  }

  // Character data up to '<' (or the quote ending an attribute), resolving references.
  bool chars(std::string& out, char stop) {
    while (pos_ < s_.size() && s_[pos_] != stop) {
      char c = s_[pos_];
      if (c == '<' && stop != '<') {
        error_ = "'<' is not allowed in an attribute value";
        return false;
      }
      if (c == '&') {
        if (!reference(out)) return false;
        continue;
      }
      out.push_back(c);
      ++pos_;
    }
    return true;
  }

  bool reference(std::string& out) {
    auto end = s_.find(';', pos_);
    if (end == std::string_view::npos || end - pos_ > 12) {
      error_ = "'&' must start an entity such as &amp; (escape a literal & as &amp;)";
      return false;
    }
    std::string_view ref = s_.substr(pos_ + 1, end - pos_ - 1);
    if (ref == "amp") out.push_back('&');
    else if (ref == "lt") out.push_back('<');
    else if (ref == "gt") out.push_back('>');
    else if (ref == "quot") out.push_back('"');
    else if (ref == "apos") out.push_back('\'');
    else if (ref.size() > 1 && ref[0] == '#') {
      uint32_t cp = 0;
      bool hex = ref[1] == 'x';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) {
        error_ = "empty character reference";
        return false;
      }
      for (char d : digits) {
        uint32_t v;
        if (d >= '0' && d <= '9') v = static_cast<uint32_t>(d - '0');
        else if (hex && d >= 'a' && d <= 'f') v = static_cast<uint32_t>(d - 'a' + 10);
        else if (hex && d >= 'A' && d <= 'F') v = static_cast<uint32_t>(d - 'A' + 10);
        else {
          error_ = "bad character reference &" + std::string(ref) + ";";
          return false;
        }
        cp = cp * (hex ? 16 : 10) + v;
        if (cp > 0x10FFFF) {
          error_ = "character reference out of range";
          return false;
        }
      }
      if (!is_xml_char(cp)) {
        error_ = "character reference &" + std::string(ref) +
                 "; names a character XML 1.0 does not allow; base64-encode binary or control "
                 "text";
        return false;
      }
      append_utf8(out, cp);
    } else {
      error_ = "unknown entity &" + std::string(ref) + ";";
      return false;
    }
    pos_ = end + 1;
    return true;
  }

  bool element(XmlElement& el, int depth) {
    if (depth > kMaxXmlDepth) {
      error_ = "elements nested deeper than " + std::to_string(kMaxXmlDepth);
      return false;
    }
    ++pos_;  // '<'
    if (!name(el.name)) return false;
    for (;;) {
      size_t before = pos_;
      skip_space();
      if (pos_ >= s_.size()) {
        error_ = "unterminated start tag <" + el.name + ">";
        return false;
      }
      if (starts("/>")) {
        pos_ += 2;
        return true;
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      if (before == pos_) {
        error_ = "expected whitespace before an attribute in <" + el.name + ">";
        return false;
      }
      std::string an, av;
      if (!name(an)) return false;
      skip_space();
      if (pos_ >= s_.size() || s_[pos_] != '=') {
        error_ = "expected '=' after attribute " + an;
        return false;
      }
      ++pos_;
      skip_space();
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) {
        error_ = "expected a quoted value for attribute " + an;
        return false;
      }
      char q = s_[pos_++];
      if (!chars(av, q)) return false;
      if (pos_ >= s_.size()) {
        error_ = "unterminated value of attribute " + an;
        return false;
      }
      ++pos_;
      el.attributes.emplace_back(std::move(an), std::move(av));
    }
    // Content.
    for (;;) {
      if (pos_ >= s_.size()) {
        error_ = "element <" + el.name + "> is not closed";
        return false;
      }
      if (starts("</")) {
        pos_ += 2;
        std::string end_name;
        if (!name(end_name)) return false;
        if (end_name != el.name) {
          error_ = "closing tag </" + end_name + "> does not match <" + el.name + ">";
          return false;
        }
        skip_space();
        if (pos_ >= s_.size() || s_[pos_] != '>') {
          error_ = "expected '>' to close </" + end_name;
          return false;
        }
        ++pos_;
        return true;
      }
      if (starts("<!--")) {
        if (!comment()) return false;
      } else if (starts("<![CDATA[")) {
        auto end = s_.find("]]>", pos_ + 9);
        if (end == std::string_view::npos) {
          error_ = "unterminated CDATA section";
          return false;
        }
        el.text.append(s_.substr(pos_ + 9, end - pos_ - 9));
        pos_ = end + 3;
      } else if (starts("<?")) {
        auto end = s_.find("?>", pos_);
        if (end == std::string_view::npos) {
          error_ = "unterminated processing instruction";
          return false;
        }
        pos_ = end + 2;
      } else if (starts("<!")) {
        error_ = "unexpected markup in <" + el.name + ">";
        return false;
      } else if (s_[pos_] == '<') {
        XmlElement child;
        if (!element(child, depth + 1)) return false;
        el.children.push_back(std::move(child));
      } else {
        if (!chars(el.text, '<')) return false;
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

XmlParseResult parse_xml(std::string_view text) { return Parser(text).run(); }

}  // namespace nimbus::queue
