#include "documents/query/builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "common/ascii.h"
#include "common/fulltext.h"
#include "documents/query/spatial.h"

namespace nimbus::docsql {

namespace {

// --- helpers -------------------------------------------------------------------------------

bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

// Number of code points.
size_t cp_count(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if (!is_cont(c)) ++n;
  return n;
}

// Byte offset of code point `k` (s.size() when past the end).
size_t cp_offset(std::string_view s, size_t k) {
  size_t i = 0;
  while (i < s.size() && k > 0) {
    ++i;
    while (i < s.size() && is_cont(static_cast<unsigned char>(s[i]))) ++i;
    --k;
  }
  return i;
}

std::string ascii_lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

// An integer argument (a number with no fraction), or nullopt.
std::optional<int64_t> int_arg(const Val& v) {
  if (v.type() != Type::number) return std::nullopt;
  double d = v.num();
  if (d != std::floor(d) || std::fabs(d) > 9.0e15) return std::nullopt;
  return static_cast<int64_t>(d);
}

std::optional<std::string_view> str_arg(const Val& v) {
  if (const json::string* s = v.str()) return std::string_view(*s);
  return std::nullopt;
}

// Optional trailing boolean flag (ignore case, partial match): absent = false; not a bool =
// undefined result (nullopt).
std::optional<bool> flag_arg(Val* a, size_t n, size_t i) {
  if (n <= i) return false;
  if (a[i].type() != Type::boolean) return std::nullopt;
  return a[i].boolv();
}

// --- type checks ---------------------------------------------------------------------------

Val is_defined(Val* a, size_t) { return Val::boolean(a[0].defined()); }
Val is_null(Val* a, size_t) { return Val::boolean(a[0].type() == Type::null); }
Val is_string(Val* a, size_t) { return Val::boolean(a[0].type() == Type::string); }
Val is_number(Val* a, size_t) { return Val::boolean(a[0].type() == Type::number); }
Val is_bool(Val* a, size_t) { return Val::boolean(a[0].type() == Type::boolean); }
Val is_array(Val* a, size_t) { return Val::boolean(a[0].type() == Type::array); }
Val is_object(Val* a, size_t) { return Val::boolean(a[0].type() == Type::object); }
Val is_primitive(Val* a, size_t) {
  Type t = a[0].type();
  return Val::boolean(t == Type::null || t == Type::boolean || t == Type::number ||
                      t == Type::string);
}

// --- strings -------------------------------------------------------------------------------

template <int Kind>  // 0 contains, 1 startswith, 2 endswith
Val str_match(Val* a, size_t n) {
  auto s = str_arg(a[0]);
  auto p = str_arg(a[1]);
  auto ic = flag_arg(a, n, 2);
  if (!s || !p || !ic) return Val();
  std::string ls, lp;
  std::string_view hs = *s, nd = *p;
  if (*ic) {
    ls = ascii_lower(hs);
    lp = ascii_lower(nd);
    hs = ls;
    nd = lp;
  }
  bool r = Kind == 0   ? hs.find(nd) != std::string_view::npos
           : Kind == 1 ? hs.substr(0, nd.size()) == nd
                       : hs.size() >= nd.size() && hs.substr(hs.size() - nd.size()) == nd;
  return Val::boolean(r);
}

// LOWER/UPPER change ASCII letters only (unsure: the service may apply full Unicode casing).
Val lower(Val* a, size_t) {
  auto s = str_arg(a[0]);
  if (!s) return Val();
  return Val::string(ascii_lower(*s));
}
Val upper(Val* a, size_t) {
  auto s = str_arg(a[0]);
  if (!s) return Val();
  std::string r(*s);
  for (auto& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return Val::string(r);
}
Val length(Val* a, size_t) {
  auto s = str_arg(a[0]);
  if (!s) return Val();
  return Val::number(static_cast<double>(cp_count(*s)));
}
Val concat(Val* a, size_t n) {
  std::string r;
  for (size_t i = 0; i < n; ++i) {
    auto s = str_arg(a[i]);
    if (!s) return Val();
    r += *s;
  }
  return Val::string(r);
}
Val substring(Val* a, size_t) {
  auto s = str_arg(a[0]);
  auto st = int_arg(a[1]);
  auto len = int_arg(a[2]);
  if (!s || !st || !len) return Val();
  int64_t start = std::max<int64_t>(0, *st);
  if (*len <= 0) return Val::string("");
  size_t b = cp_offset(*s, static_cast<size_t>(start));
  size_t e = cp_offset(s->substr(b), static_cast<size_t>(*len)) + b;
  return Val::string(s->substr(b, e - b));
}
Val index_of(Val* a, size_t n) {
  auto s = str_arg(a[0]);
  auto p = str_arg(a[1]);
  if (!s || !p) return Val();
  size_t from = 0;
  if (n > 2) {
    auto st = int_arg(a[2]);
    if (!st) return Val();
    if (*st < 0) return Val::number(-1);
    from = cp_offset(*s, static_cast<size_t>(*st));
    if (static_cast<size_t>(*st) > cp_count(*s)) return Val::number(-1);
  }
  size_t at = s->find(*p, from);
  if (at == std::string_view::npos) return Val::number(-1);
  return Val::number(static_cast<double>(cp_count(s->substr(0, at))));
}
Val replace(Val* a, size_t) {
  auto s = str_arg(a[0]);
  auto f = str_arg(a[1]);
  auto r = str_arg(a[2]);
  if (!s || !f || !r) return Val();
  if (f->empty()) return Val::string(*s);
  std::string out;
  size_t i = 0;
  for (;;) {
    size_t at = s->find(*f, i);
    if (at == std::string_view::npos) break;
    out.append(s->substr(i, at - i));
    out.append(*r);
    i = at + f->size();
  }
  out.append(s->substr(i));
  return Val::string(out);
}
bool ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
template <int Kind>  // 0 both, 1 left, 2 right
Val trim(Val* a, size_t) {
  auto s = str_arg(a[0]);
  if (!s) return Val();
  std::string_view v = *s;
  if (Kind != 2)
    while (!v.empty() && ws(v.front())) v.remove_prefix(1);
  if (Kind != 1)
    while (!v.empty() && ws(v.back())) v.remove_suffix(1);
  return Val::string(v);
}
Val left(Val* a, size_t) {
  auto s = str_arg(a[0]);
  auto k = int_arg(a[1]);
  if (!s || !k) return Val();
  if (*k <= 0) return Val::string("");
  return Val::string(s->substr(0, cp_offset(*s, static_cast<size_t>(*k))));
}
Val right(Val* a, size_t) {
  auto s = str_arg(a[0]);
  auto k = int_arg(a[1]);
  if (!s || !k) return Val();
  if (*k <= 0) return Val::string("");
  size_t total = cp_count(*s);
  size_t skip = static_cast<size_t>(*k) >= total ? 0 : total - static_cast<size_t>(*k);
  return Val::string(s->substr(cp_offset(*s, skip)));
}
Val reverse(Val* a, size_t) {
  auto s = str_arg(a[0]);
  if (!s) return Val();
  std::string out;
  out.reserve(s->size());
  size_t end = s->size();
  while (end > 0) {
    size_t b = end - 1;
    while (b > 0 && is_cont(static_cast<unsigned char>((*s)[b]))) --b;
    out.append(s->substr(b, end - b));
    end = b;
  }
  return Val::string(out);
}

void json_text(const json::value& v, std::string& out);
void json_string(std::string_view s, std::string& out) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}
void json_object_text(const json::object& o, std::string& out) {
  out.push_back('{');
  bool first = true;
  for (const auto& kv : o) {
    if (!first) out.push_back(',');
    first = false;
    json_string(kv.key(), out);
    out.push_back(':');
    json_text(kv.value(), out);
  }
  out.push_back('}');
}
void json_text(const json::value& v, std::string& out) {
  switch (type_of(v)) {
    case Type::null: out += "null"; break;
    case Type::boolean: out += v.get_bool() ? "true" : "false"; break;
    case Type::number: out += number_text(as_double(v)); break;
    case Type::string: json_string(v.get_string(), out); break;
    case Type::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        json_text(e, out);
      }
      out.push_back(']');
      break;
    }
    case Type::object: json_object_text(v.get_object(), out); break;
    default: break;
  }
}

// TOSTRING: strings unchanged, everything else as JSON text; undefined stays undefined
// (unsure: the docs do not say what ToString(undefined) returns).
Val tostring(Val* a, size_t) {
  if (!a[0].defined()) return Val();
  if (auto s = str_arg(a[0])) return Val::string(*s);
  std::string out;
  if (const json::value* v = a[0].jv())
    json_text(*v, out);
  else
    json_object_text(*a[0].object(), out);
  return Val::string(out);
}

// --- arrays --------------------------------------------------------------------------------

// Partial match: an object needle matches an object element holding all its properties.
bool partial_match(const Val& needle, const json::value& e) {
  const json::object* n = needle.object();
  if (!n || !e.is_object()) return false;
  const json::object& eo = e.get_object();
  for (const auto& kv : *n) {
    const json::value* x = eo.if_contains(kv.key());
    if (!x || !deep_equal(kv.value(), *x)) return false;
  }
  return true;
}

Val array_contains(Val* a, size_t n) {
  const json::array* arr = a[0].array();
  auto partial = flag_arg(a, n, 2);
  if (!arr || !partial) return Val();
  if (!a[1].defined()) return Val::boolean(false);
  for (const auto& e : *arr) {
    if (*partial ? partial_match(a[1], e) || deep_equal(Val::ref(&e), a[1])
                 : deep_equal(Val::ref(&e), a[1]))
      return Val::boolean(true);
  }
  return Val::boolean(false);
}
Val array_length(Val* a, size_t) {
  const json::array* arr = a[0].array();
  if (!arr) return Val();
  return Val::number(static_cast<double>(arr->size()));
}
Val array_concat(Val* a, size_t n) {
  json::array out;
  for (size_t i = 0; i < n; ++i) {
    const json::array* arr = a[i].array();
    if (!arr) return Val();
    for (const auto& e : *arr) out.push_back(e);
  }
  return Val::own(json::value(std::move(out)));
}
Val array_slice(Val* a, size_t n) {
  const json::array* arr = a[0].array();
  auto st = int_arg(a[1]);
  if (!arr || !st) return Val();
  int64_t size = static_cast<int64_t>(arr->size());
  int64_t b = *st < 0 ? std::max<int64_t>(0, size + *st) : std::min(*st, size);
  int64_t e = size;
  if (n > 2) {
    auto len = int_arg(a[2]);
    if (!len) return Val();
    e = *len < 0 ? std::max<int64_t>(b, size + *len) : std::min(size, b + *len);
  }
  json::array out;
  for (int64_t i = b; i < e; ++i) out.push_back((*arr)[static_cast<size_t>(i)]);
  return Val::own(json::value(std::move(out)));
}

// --- math ----------------------------------------------------------------------------------

template <double (*F)(double)>
Val math1(Val* a, size_t) {
  if (a[0].type() != Type::number) return Val();
  return Val::number(F(a[0].num()));
}
double d_abs(double x) { return std::fabs(x); }
double d_floor(double x) { return std::floor(x); }
double d_ceil(double x) { return std::ceil(x); }
double d_round(double x) { return std::round(x); }  // midpoints away from zero
double d_sqrt(double x) { return std::sqrt(x); }
Val power(Val* a, size_t) {
  if (a[0].type() != Type::number || a[1].type() != Type::number) return Val();
  return Val::number(std::pow(a[0].num(), a[1].num()));
}

// The distance function VectorDistance's options name ({"distanceFunction": "..."}), in
// any letter case; cosine when absent. A query bound to its container (parser.h,
// ContainerDefinitions) has the vectorEmbeddingPolicy's function written into the options of
// a call over an embedding's path, as the service defaults to it.
enum class Distance { cosine, dot_product, euclidean, unknown };
Distance distance_of(const Val& options) {
  const json::object* o = options.object();
  if (!o) return options.defined() ? Distance::unknown : Distance::cosine;
  const json::value* f = nullptr;
  for (const auto& m : *o)
    if (ascii_iequals(m.key(), "distanceFunction")) f = &m.value();
  if (!f) return Distance::cosine;
  if (!f->is_string()) return Distance::unknown;
  std::string_view name = f->as_string();
  if (ascii_iequals(name, "cosine")) return Distance::cosine;
  if (ascii_iequals(name, "dotproduct")) return Distance::dot_product;
  if (ascii_iequals(name, "euclidean")) return Distance::euclidean;
  return Distance::unknown;
}

// VectorDistance(v1, v2 [, bruteForce [, {distanceFunction, dataType}]]): the similarity of two
// equally long arrays of numbers: cosine similarity, the dot product, or the Euclidean
// distance. Anything else (other lengths, non-numbers, an unknown function, a zero vector
// for cosine) is undefined, as wrong argument types are for every built-in. bruteForce only
// tells the service whether to use a vector index; every evaluation here is exact.
Val vector_distance(Val* a, size_t n) {
  const json::array* x = a[0].array();
  const json::array* y = a[1].array();
  if (!x || !y || x->size() != y->size() || x->empty()) return Val();
  Distance d = distance_of(n >= 4 ? a[3] : Val());
  if (d == Distance::unknown) return Val();
  double dot = 0, xx = 0, yy = 0, sq = 0;
  for (size_t i = 0; i < x->size(); ++i) {
    const json::value &u = (*x)[i], &v = (*y)[i];
    if (!u.is_number() || !v.is_number()) return Val();
    double p = u.to_number<double>(), q = v.to_number<double>();
    dot += p * q;
    xx += p * p;
    yy += q * q;
    sq += (p - q) * (p - q);
  }
  switch (d) {
    case Distance::cosine:
      if (xx == 0 || yy == 0) return Val();
      return Val::number(dot / (std::sqrt(xx) * std::sqrt(yy)));
    case Distance::dot_product: return Val::number(dot);
    case Distance::euclidean: return Val::number(std::sqrt(sq));
    default: return Val();
  }
}

// FullTextContains(text, phrase), FullTextContainsAll(text, p1, p2, ...) and
// FullTextContainsAny(...): whether the text holds the phrase, its words one after another
// (fulltext.h).
// A text or phrase that is not a string makes the answer undefined, as for CONTAINS.
template <int Mode>  // 0: one phrase, 1: all phrases, 2: any phrase
Val fulltext_contains(Val* a, size_t n) {
  const json::string* text = a[0].str();
  if (!text) return Val();
  bool any = false, all = true;
  for (size_t i = 1; i < n; ++i) {
    const json::string* phrase = a[i].str();
    if (!phrase) return Val();
    bool hit = fulltext::contains(*text, *phrase);
    any = any || hit;
    all = all && hit;
  }
  return Val::boolean(Mode == 2 ? any : all);
}

// FullTextScore and RRF are scored by the executor over every row (ORDER BY RANK, the only
// place the binder lets them be); evaluated alone they have no value.
Val rank_only(Val*, size_t) { return Val(); }

}  // namespace

std::optional<std::vector<fulltext::Phrase>> fulltext_terms(const Val& v) {
  std::vector<fulltext::Phrase> out;
  // A term is a phrase. An array (the older form, or a parameter holding several terms) is
  // read one level deep.
  // A term without tokens stays (it matches nothing) so that positions still line up with a
  // hybrid plan's hit counts, one per term.
  auto add = [&](std::string_view s) { out.push_back(fulltext::analyze(s)); };
  if (const json::string* s = v.str()) {
    add(*s);
    return out;
  }
  const json::array* arr = v.array();
  if (!arr) return std::nullopt;
  for (const auto& e : *arr) {
    if (e.is_string()) {
      add(e.get_string());
    } else if (e.is_array()) {
      for (const auto& inner : e.get_array()) {
        if (!inner.is_string()) return std::nullopt;
        add(inner.get_string());
      }
    } else {
      return std::nullopt;
    }
  }
  return out;
}

namespace {

// _FullTextWordCount(text): how many tokens the text has (the statistics of a hybrid query
// plan's global statistics query, query_plan()).
Val fulltext_word_count(Val* a, size_t) {
  const json::string* text = a[0].str();
  if (!text) return Val::number(0);
  return Val::number(static_cast<double>(fulltext::count_terms(*text, std::vector<fulltext::Phrase>{}).length));
}

// _FullTextScore(text, [terms], documents, totalWords, [hits per term]): the BM25 score of one
// document against corpus statistics the client gathered from every partition (a hybrid query
// plan's component query). A text that is not a string scores 0.
Val fulltext_score_with(Val* a, size_t) {
  auto terms = fulltext_terms(a[1]);
  const json::array* hits = a[4].array();
  if (!terms || terms->size() > fulltext::kMaxScoreTerms || a[2].type() != Type::number || a[3].type() != Type::number || !hits) return Val();
  fulltext::CorpusStats corpus;
  corpus.documents = a[2].num();
  corpus.total_words = a[3].num();
  for (const auto& h : *hits) {
    if (!h.is_number()) return Val();
    corpus.hits.push_back(h.to_number<double>());
  }
  const json::string* text = a[0].str();
  if (!text) return Val::number(0);
  return Val::number(fulltext::bm25(fulltext::count_terms(*text, *terms), corpus));
}

// _VectorScore(v1, v2 [, bruteForce [, options]]): VectorDistance made "higher is better" (the
// Euclidean distance negated), so a hybrid plan's component queries always order it
// descending and need not know the container's distance function (query_plan()).
Val vector_score(Val* a, size_t n) {
  Val d = vector_distance(a, n);
  if (d.type() == Type::number && distance_of(n >= 4 ? a[3] : Val()) == Distance::euclidean) return Val::number(-d.num());
  return d;
}

constexpr Builtin kBuiltins[] = {
    {"IS_DEFINED", 1, 1, is_defined},
    {"IS_NULL", 1, 1, is_null},
    {"IS_STRING", 1, 1, is_string},
    {"IS_NUMBER", 1, 1, is_number},
    {"IS_BOOL", 1, 1, is_bool},
    {"IS_ARRAY", 1, 1, is_array},
    {"IS_OBJECT", 1, 1, is_object},
    {"IS_PRIMITIVE", 1, 1, is_primitive},
    {"CONTAINS", 2, 3, str_match<0>},
    {"STARTSWITH", 2, 3, str_match<1>},
    {"ENDSWITH", 2, 3, str_match<2>},
    {"LOWER", 1, 1, lower},
    {"UPPER", 1, 1, upper},
    {"LENGTH", 1, 1, length},
    {"CONCAT", 2, 255, concat},
    {"SUBSTRING", 3, 3, substring},
    {"INDEX_OF", 2, 3, index_of},
    {"REPLACE", 3, 3, replace},
    {"TRIM", 1, 1, trim<0>},
    {"LTRIM", 1, 1, trim<1>},
    {"RTRIM", 1, 1, trim<2>},
    {"LEFT", 2, 2, left},
    {"RIGHT", 2, 2, right},
    {"REVERSE", 1, 1, reverse},
    {"TOSTRING", 1, 1, tostring},
    {"ARRAY_CONTAINS", 2, 3, array_contains},
    {"ARRAY_LENGTH", 1, 1, array_length},
    {"ARRAY_CONCAT", 2, 255, array_concat},
    {"ARRAY_SLICE", 2, 3, array_slice},
    {"ABS", 1, 1, math1<d_abs>},
    {"FLOOR", 1, 1, math1<d_floor>},
    {"CEILING", 1, 1, math1<d_ceil>},
    {"ROUND", 1, 1, math1<d_round>},
    {"SQRT", 1, 1, math1<d_sqrt>},
    {"POWER", 2, 2, power},
    {"ST_DISTANCE", 2, 2, spatial::st_distance},
    {"ST_WITHIN", 2, 2, spatial::st_within},
    {"ST_INTERSECTS", 2, 2, spatial::st_intersects},
    {"ST_ISVALID", 1, 1, spatial::st_isvalid},
    {"ST_ISVALIDDETAILED", 1, 1, spatial::st_isvaliddetailed},
    {"VECTORDISTANCE", 2, 4, vector_distance},
    {"FULLTEXTCONTAINS", 2, 2, fulltext_contains<0>},
    {"FULLTEXTCONTAINSALL", 2, 255, fulltext_contains<1>},
    {"FULLTEXTCONTAINSANY", 2, 255, fulltext_contains<2>},
    {"FULLTEXTSCORE", 2, 255, rank_only},
    {"RRF", 1, 255, rank_only},  // fewer than two scores: the binder answers as the service
    {"_FULLTEXTWORDCOUNT", 1, 1, fulltext_word_count},
    {"_FULLTEXTSCORE", 5, 5, fulltext_score_with},
    // A hybrid plan's component queries score vectors with _VectorScore (query_plan()).
    {"_VECTORSCORE", 2, 4, vector_score},
};

}  // namespace

bool is_call_to(const Expr& e, std::string_view upper_name) {
  return e.kind == ExprKind::call && e.fn && std::string_view(e.fn->name) == upper_name;
}

bool euclidean_options(const Val& options) { return distance_of(options) == Distance::euclidean; }

const Builtin* find_builtin(std::string_view name) {
  for (const auto& b : kBuiltins) {
    std::string_view n(b.name);
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < n.size() && eq; ++i)
      eq = std::toupper(static_cast<unsigned char>(name[i])) == n[i];
    if (eq) return &b;
  }
  return nullptr;
}

}  // namespace nimbus::docsql
