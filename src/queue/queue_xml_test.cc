#include "queue/queue_xml.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace nimbus::queue
