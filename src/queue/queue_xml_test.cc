#include "queue/queue_xml.h"

#include <gtest/gtest.h>

#include <vector>

namespace nimbus::queue {
namespace {

TEST(QueueXml, ParsesAQueueMessageWithEntitiesAndDeclaration) {
  auto r = parse_xml(
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<QueueMessage>"
      "<MessageText>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#65;&#x42;&#x20AC;</MessageText>"
      "</QueueMessage>");
  ASSERT_TRUE(r.root) << r.error;
  EXPECT_EQ(r.root->name, "QueueMessage");
  ASSERT_NE(r.root->child("MessageText"), nullptr);
  EXPECT_EQ(r.root->child("MessageText")->text, "a <b> & \"c\" 'd' AB\xE2\x82\xAC");
}

TEST(QueueXml, KeepsWhitespaceCdataAndAttributes) {
  auto r = parse_xml("<a x='1' y=\"2\"><!-- c --><b>  sp  </b><c><![CDATA[<raw>&]]></c><d/></a>");
  ASSERT_TRUE(r.root) << r.error;
  EXPECT_EQ(r.root->attributes.size(), 2u);
  EXPECT_EQ(r.root->child("b")->text, "  sp  ");
  EXPECT_EQ(r.root->child("c")->text, "<raw>&");
  EXPECT_NE(r.root->child("d"), nullptr);
  EXPECT_EQ(r.root->child("e"), nullptr);
}

TEST(QueueXml, RejectsMalformedDocumentsAndSaysWhere) {
  for (const char* bad :
       {"", "not xml", "<a>", "<a></b>", "<a>x &bogus; y</a>", "<a>&amp</a>", "<a><b></a></b>",
        "<a></a><b></b>", "<!DOCTYPE a><a/>", "<a x=1/>", "<a>&#0;</a>", "<a", "<a><![CDATA[x</a>",
        "<QueueMessage><MessageText>hi</MessageText>"}) {
    auto r = parse_xml(bad);
    EXPECT_FALSE(r.root) << "accepted: " << bad;
    EXPECT_NE(r.error.find("at byte"), std::string::npos) << r.error;
  }
}

TEST(QueueXml, LimitsDepth) {
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "<a>";
  for (int i = 0; i < 40; ++i) deep += "</a>";
  EXPECT_FALSE(parse_xml(deep).root);
}

TEST(QueueXml, EscapesEverythingThatMatters) {
  EXPECT_EQ(xml_escape("<&>\"'\r\n"), "&lt;&amp;&gt;&quot;&apos;&#xD;\n");
  auto back = parse_xml("<t>" + xml_escape("x<&>\"'\ry") + "</t>");
  ASSERT_TRUE(back.root);
  EXPECT_EQ(back.root->text, "x<&>\"'\ry");
}

TEST(QueueXml, PlainRunsAndSingleBytesEscapeAlike) {
  // Runs of plain bytes are copied whole; every byte must come out as it does alone.
  for (int b = 0; b < 256; ++b) {
    std::string one(1, static_cast<char>(b));
    EXPECT_EQ(xml_escape("Id-01:" + one + "Z\t\n"), "Id-01:" + xml_escape(one) + "Z\t\n") << b;
  }
}

TEST(QueueXml, RefusesCharactersXmlCannotCarryRawOrAsReferences) {
  // Every C0 control but tab/LF/CR, DEL's neighbours that are fine, U+FFFE/U+FFFF, and bytes
  // that are not UTF-8 (stray continuation, 0xFF, overlong, surrogate, truncated).
  std::vector<std::string> bad_texts;
  for (int c = 1; c < 0x20; ++c)
    if (c != '\t' && c != '\n' && c != '\r') {
      bad_texts.push_back("&#" + std::to_string(c) + ";");
      bad_texts.push_back(std::string(1, static_cast<char>(c)));
    }
  for (const char* s : {"&#xFFFE;", "&#xFFFF;", "&#xD800;", "&#x0;", "\xFF", "\xFE\xFF", "\x80",
                        "\xC0\xAF", "\xED\xA0\x80", "\xE2\x82", "\xEF\xBF\xBE", "\xF4\x90\x80\x80"})
    bad_texts.push_back(s);
  for (auto& t : bad_texts) {
    std::string doc = "<QueueMessage><MessageText>a" + t + "b</MessageText></QueueMessage>";
    auto r = parse_xml(doc);
    EXPECT_FALSE(r.root) << "accepted text with bytes " << ::testing::PrintToString(t);
    EXPECT_NE(r.error.find("at byte"), std::string::npos) << r.error;
  }
  // What XML does allow still parses.
  auto ok = parse_xml("<t>&#9;&#10;&#13;&#x20;&#xD7FF;&#xE000;&#xFFFD;&#x10000;\xF0\x9F\x98\x80</t>");
  ASSERT_TRUE(ok.root) << ok.error;
}

TEST(QueueXml, EscapingNeverProducesInvalidXml) {
  // Whatever bytes reach the writer (text stored before the input check, a client's bytes
  // echoed in an error message), the document it produces parses strictly.
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  all += "\xED\xA0\x80\xEF\xBF\xBE\xC0\xAF";
  std::string doc = "<t>" + xml_escape(all) + "</t>";
  EXPECT_TRUE(is_xml_text(doc));
  auto back = parse_xml(doc);
  ASSERT_TRUE(back.root) << back.error;
  // Tab and LF kept, VT and FF replaced, CR kept (as &#xD;).
  EXPECT_NE(back.root->text.find("\t\n\xEF\xBF\xBD\xEF\xBF\xBD\r"), std::string::npos);
  EXPECT_NE(back.root->text.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD stands in
  EXPECT_EQ(xml_escape("h\xC3\xA9llo \xF0\x9F\x98\x80"), "h\xC3\xA9llo \xF0\x9F\x98\x80");
}

}  // namespace
}  // namespace nimbus::queue
