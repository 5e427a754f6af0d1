// Times the SQL engine (not a test; figures in src/documents/README.md):
//   docsql_bench [documents=100000]
// Figures are thread CPU time (best of several runs), so other load on the machine inflates
// them less than wall time would.
// 1. parse + bind of a mid-sized query, 20,000 times;
// 2. a filter + ORDER BY over generated documents: full sort, TOP 10, and a COUNT;
// 3. full-text and vector search over the same documents (a 20-word text, an 8-number vector),
//    beside CONTAINS, a plain string function over the same text, as the ratio's base.
#include <boost/json/object.hpp>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "documents/query/query.h"

namespace json = boost::json;
using namespace nimbus::docsql;

namespace {

// Thread CPU time, not wall time: the figures stay meaningful on a shared, loaded machine.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

void run(const char* label, const std::string& text, const std::vector<json::object>& docs,
         const json::object& params, int reps) {
  auto q = parse_query(text);
  if (!q) {
    std::printf("%s: %s\n", label, q.error().to_string().c_str());
    std::exit(1);
  }
  double best = 1e300;
  size_t rows = 0;
  for (int i = 0; i < reps; ++i) {
    VectorSource src(docs);
    double t0 = cpu_ms();
    auto r = execute(**q, params, src);
    double ms = cpu_ms() - t0;
    if (!r) {
      std::printf("%s: %s\n", label, r.error().to_string().c_str());
      std::exit(1);
    }
    rows = r->size();
    if (ms < best) best = ms;
  }
  std::printf("%-34s %8.1f ms CPU  (%zu docs, %zu rows, best of %d)  %.0f ns/doc\n", label, best,
              docs.size(), rows, reps, best * 1e6 / static_cast<double>(docs.size()));
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  if (n == 0 || n > 2'000'000) n = 100000;

  const std::string parse_text =
      "SELECT c.id, c.name AS n, {a: c.a.b, t: ARRAY_LENGTH(c.tags)} AS o FROM c "
      "JOIN t IN c.tags WHERE c.pk = @pk AND c.score BETWEEN 10 AND 90 AND "
      "(STARTSWITH(c.name, 'user', true) OR c.kind IN ('a', 'b', 'c')) AND t != 'x' "
      "ORDER BY c.score DESC, c.id OFFSET 0 LIMIT 20";
  const int parses = 20000;
  double t0 = cpu_ms();
  size_t ok = 0;
  for (int i = 0; i < parses; ++i) ok += parse_query(parse_text).ok();
  double pms = cpu_ms() - t0;
  std::printf("parse+bind (%zu chars) x %d: %.1f ms CPU, %.2f us each (%zu ok)\n", parse_text.size(),
              parses, pms, pms * 1000 / parses, ok);

  std::vector<json::object> docs;
  docs.reserve(n);
  const char* kinds[] = {"a", "b", "c", "d", "e"};
  for (size_t i = 0; i < n; ++i) {
    json::object d;
    d["id"] = "doc-" + std::to_string(i);
    d["pk"] = "p" + std::to_string(i % 1000);
    d["kind"] = kinds[i % 5];
    d["score"] = static_cast<int64_t>((i * 7919) % 100);
    d["name"] = "user " + std::to_string((i * 31) % 100000);
    d["tags"] = json::array{"red", (i % 2) ? "blue" : "green"};
    d["a"] = json::object{{"b", static_cast<int64_t>(i)}};
    // 20 words from 200 (a few common, most rare: word k with weight 1/(k+1), roughly Zipf).
    std::string text;
    json::array v;
    uint64_t x = i * 2654435761u + 1;
    for (int w = 0; w < 20; ++w) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      double u = static_cast<double>(x >> 11) / 9007199254740992.0;
      int k = static_cast<int>(std::pow(200.0, u)) - 1;
      text += (w ? " " : "") + std::string(k == 0 ? "red" : k == 1 ? "bicycle" : "w") + (k > 1 ? std::to_string(k) : "");
    }
    for (int e = 0; e < 8; ++e) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      v.push_back(static_cast<double>(x >> 40) / 16777216.0 - 0.5);
    }
    d["text"] = std::move(text);
    d["v"] = std::move(v);
    docs.push_back(std::move(d));
  }
  json::object params{{"@k", "c"}};
  run("filter (kind=@k AND score>=50)", "SELECT * FROM c WHERE c.kind = @k AND c.score >= 50",
      docs, params, 5);
  run("filter + ORDER BY (full sort)",
      "SELECT c.id, c.score FROM c WHERE c.kind = @k AND c.score >= 50 ORDER BY c.score DESC, c.id",
      docs, params, 5);
  run("filter + ORDER BY + TOP 10",
      "SELECT TOP 10 c.id, c.score FROM c WHERE c.score >= 50 ORDER BY c.score DESC, c.id", docs,
      params, 5);
  run("ORDER BY all docs, SELECT *", "SELECT * FROM c ORDER BY c.name", docs, params, 3);
  run("SELECT VALUE COUNT(1) WHERE ...", "SELECT VALUE COUNT(1) FROM c WHERE c.score < 10", docs,
      params, 5);
  run("GROUP BY kind, COUNT/AVG",
      "SELECT c.kind, COUNT(1) AS n, AVG(c.score) AS s FROM c GROUP BY c.kind", docs, params, 5);
  run("CONTAINS(text) COUNT (the base)", "SELECT VALUE COUNT(1) FROM c WHERE CONTAINS(c.text, 'w17 ')", docs, params, 5);
  run("FullTextContains(phrase) COUNT", "SELECT VALUE COUNT(1) FROM c WHERE FullTextContains(c.text, 'w17 w18')", docs, params, 5);
  run("TOP 10 RANK FullTextScore",
      "SELECT TOP 10 c.id FROM c ORDER BY RANK FullTextScore(c.text, 'red', 'bicycle', 'w17')", docs, params, 3);
  run("TOP 10 ORDER BY VectorDistance",
      "SELECT TOP 10 c.id FROM c ORDER BY VectorDistance(c.v, [0.1, 0.2, -0.3, 0.4, 0, 0.1, -0.2, 0.3])", docs, params, 3);
  run("TOP 10 RANK RRF(FullTextScore, VectorDistance)",
      "SELECT TOP 10 c.id FROM c ORDER BY RANK RRF(FullTextScore(c.text, 'red', 'bicycle', 'w17'), "
      "VectorDistance(c.v, [0.1, 0.2, -0.3, 0.4, 0, 0.1, -0.2, 0.3]))", docs, params, 3);
  return 0;
}
