#include "queue/queue_xml.h"

#include <cstdint>

namespace nimbus::queue {

const XmlElement* XmlElement::child(std::string_view n) const {
  for (auto& c : children)
    if (c.name == n) return &c;
  return nullptr;
}

void append_xml_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\r': out += "&#xD;"; break;
      default: out.push_back(c);
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

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  XmlParseResult run() {
    XmlParseResult r;
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
      if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
        error_ = "character reference to an invalid code point";
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
