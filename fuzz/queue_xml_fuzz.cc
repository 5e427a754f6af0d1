// Fuzzes the queue service's XML reader and every body parser built on it, with the input as
// a request body: parse_xml (the StorageServiceProperties body goes through it directly),
// parse_queue_message_body (Put Message, Update Message) and parse_signed_identifiers (Set
// Queue ACL). Properties checked beyond "no crash, no sanitizer report":
//   - a parsed document, written back with xml_escape, parses to the same tree;
//   - a parsed document holds only XML 1.0 text (names, attributes, character data);
//   - any input, escaped into <QueueMessage><MessageText>, comes back as XML text, unchanged
//     when it was XML text already;
//   - a failure always says what is wrong (non-empty error).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "queue/queue_protocol.h"
#include "queue/queue_xml.h"

namespace {

using namespace nimbus;

[[noreturn]] void broken(const char* property) {
  std::fprintf(stderr, "queue_xml_fuzz: property broken: %s\n", property);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) broken(#cond); \
  } while (0)

// Writes the tree back: the element's text first (the reader concatenates all character data
// of an element, wherever it stood), then its children.
void write(const queue::XmlElement& e, std::string& out) {
  out += '<';
  out += e.name;
  for (const auto& [name, value] : e.attributes) {
    out += ' ';
    out += name;
    out += "=\"";
    queue::append_xml_escaped(out, value);
    out += '"';
  }
  out += '>';
  queue::append_xml_escaped(out, e.text);
  for (const auto& c : e.children) write(c, out);
  out += "</";
  out += e.name;
  out += '>';
}

bool all_xml_text(const queue::XmlElement& e) {
  if (!queue::is_xml_text(e.name) || !queue::is_xml_text(e.text)) return false;
  for (const auto& [name, value] : e.attributes)
    if (!queue::is_xml_text(name) || !queue::is_xml_text(value)) return false;
  for (const auto& c : e.children)
    if (!all_xml_text(c)) return false;
  return true;
}

bool same(const queue::XmlElement& a, const queue::XmlElement& b) {
  if (a.name != b.name || a.attributes != b.attributes || a.text != b.text ||
      a.children.size() != b.children.size())
    return false;
  for (size_t i = 0; i < a.children.size(); ++i)
    if (!same(a.children[i], b.children[i])) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);

  auto doc = queue::parse_xml(body);
  if (doc.root) {
    CHECK(queue::is_xml_text(body));
    CHECK(all_xml_text(*doc.root));
    std::string again;
    write(*doc.root, again);
    auto reparsed = queue::parse_xml(again);
    if (!reparsed.root) std::fprintf(stderr, "re-parse failed: %s\n", reparsed.error.c_str());
    CHECK(reparsed.root.has_value());
    CHECK(same(*doc.root, *reparsed.root));
  } else {
    CHECK(!doc.error.empty());
  }

  auto message = queue::parse_queue_message_body(body);
  if (auto* e = std::get_if<queue::ServiceError>(&message)) {
    CHECK(e->status == 400 || e->status == 413);
    CHECK(!e->code.empty() && !e->message.empty());
  }

  auto acl = queue::parse_signed_identifiers(body);
  if (auto* ids = std::get_if<std::vector<api::SignedIdentifier>>(&acl)) {
    CHECK(ids->size() <= 5);
    for (const auto& id : *ids) CHECK(!id.id.empty() && id.id.size() <= 64);
  } else {
    CHECK(!std::get<queue::ServiceError>(acl).message.empty());
  }

  // The input as a message text, the way an SDK sends it. Text XML cannot carry is written as
  // U+FFFD, so only XML text comes back unchanged; any text comes back as XML text.
  if (size <= api::kMaxMessageBytes / 3) {
    std::string wrapped = "<?xml version=\"1.0\" encoding=\"utf-8\"?><QueueMessage><MessageText>";
    queue::append_xml_escaped(wrapped, body);
    wrapped += "</MessageText></QueueMessage>";
    auto text = queue::parse_queue_message_body(wrapped);
    CHECK(std::holds_alternative<std::string>(text));
    CHECK(queue::is_xml_text(std::get<std::string>(text)));
    if (queue::is_xml_text(body)) CHECK(std::get<std::string>(text) == body);
  }
  return 0;
}
