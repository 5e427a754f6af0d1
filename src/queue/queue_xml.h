#pragma once
// The little XML the queue REST API needs: escaping for the responses we write, and a strict
// reader for the tiny request bodies clients send (QueueMessage, SignedIdentifiers,
// StorageServiceProperties). A full XML library would be more code to trust than this; the
// reader accepts well-formed documents only (declaration, comments, CDATA, the five named
// entities and character references; no DTDs) and reports where it stopped.
// Pure functions and plain data; thread-safe.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nimbus::queue {

struct XmlElement {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;  // concatenated character data directly inside this element
  std::vector<XmlElement> children;
  // The first child called `name`, or nullptr.
  const XmlElement* child(std::string_view name) const;
};

struct XmlParseResult {
  std::optional<XmlElement> root;  // set on success
  std::string error;               // otherwise: what is wrong and at which byte offset
};

// Parses one document. Depth and size are bounded by the caller's body limit and kMaxDepth.
XmlParseResult parse_xml(std::string_view text);
inline constexpr int kMaxXmlDepth = 32;

// Escapes &, <, >, ", ' and carriage return (kept as &#xD; so it survives parsers that
// normalise line ends) for element text and attribute values. Bytes that are not UTF-8 and
// characters XML 1.0 cannot carry at all (controls other than tab/LF/CR, U+FFFE/U+FFFF) become
// U+FFFD: no reference can express them, and one of them would make the whole response a
// document strict readers refuse. Inputs refuse such text (is_xml_text), so only text written
// before that check, or echoed in an error message, ever gets here.
void append_xml_escaped(std::string& out, std::string_view text);
std::string xml_escape(std::string_view text);

// Whether `text` is UTF-8 made only of characters XML 1.0 allows (Char production). When not,
// `bad_offset` gets the byte offset of the first offender.
bool is_xml_text(std::string_view text, size_t* bad_offset = nullptr);

}  // namespace nimbus::queue
