#include "documents/query/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

namespace nimbus::docsql {

const char* type_name(Type t) {
  switch (t) {
    case Type::undefined: return "undefined";
    case Type::null: return "null";
    case Type::boolean: return "boolean";
    case Type::number: return "number";
    case Type::string: return "string";
    case Type::array: return "array";
    case Type::object: return "object";
  }
  return "?";
}

Type type_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return Type::null;
    case json::kind::bool_: return Type::boolean;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return Type::number;
    case json::kind::string: return Type::string;
    case json::kind::array: return Type::array;
    case json::kind::object: return Type::object;
  }
  return Type::null;
}

double as_double(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64: return static_cast<double>(v.get_int64());
    case json::kind::uint64: return static_cast<double>(v.get_uint64());
    case json::kind::double_: return v.get_double();
    default: return 0;
  }
}

json::value make_number(double d) {
  // 2^53: every integer below it is exact in a double.
  if (d == std::floor(d) && std::fabs(d) < 9007199254740992.0) {
    if (d == 0 && std::signbit(d)) return json::value(0);  // -0 prints as 0
    return json::value(static_cast<int64_t>(d));
  }
  return json::value(d);
}

Val Val::number(double d) {
  if (!std::isfinite(d)) return Val();
  return own(make_number(d));
}

Type Val::type() const {
  switch (k_) {
    case K::undef: return Type::undefined;
    case K::obj: return Type::object;
    case K::ref: return type_of(*r_);
    case K::owned: return type_of(v_);
  }
  return Type::undefined;
}

const json::object* Val::object() const {
  if (k_ == K::obj) return o_;
  const json::value* v = jv();
  return v ? v->if_object() : nullptr;
}
const json::array* Val::array() const {
  const json::value* v = jv();
  return v ? v->if_array() : nullptr;
}
const json::string* Val::str() const {
  const json::value* v = jv();
  return v ? v->if_string() : nullptr;
}
bool Val::is_true() const {
  const json::value* v = jv();
  return v && v->is_bool() && v->get_bool();
}
double Val::num() const { return as_double(*jv()); }
bool Val::boolv() const { return jv()->get_bool(); }

json::value Val::to_json() const {
  switch (k_) {
    case K::undef: return nullptr;
    case K::obj: return json::value(*o_);
    case K::ref: return *r_;
    case K::owned: return v_;
  }
  return nullptr;
}

json::value Val::take() {
  if (k_ == K::owned) return std::move(v_);
  return to_json();
}

bool deep_equal(const json::object& a, const json::object& b) {
  if (a.size() != b.size()) return false;
  for (const auto& kv : a) {
    const json::value* o = b.if_contains(kv.key());
    if (!o || !deep_equal(kv.value(), *o)) return false;
  }
  return true;
}

bool deep_equal(const json::value& a, const json::value& b) {
  Type ta = type_of(a), tb = type_of(b);
  if (ta != tb) return false;
  switch (ta) {
    case Type::null: return true;
    case Type::boolean: return a.get_bool() == b.get_bool();
    case Type::number:
      if (a.is_int64() && b.is_int64()) return a.get_int64() == b.get_int64();
      return as_double(a) == as_double(b);
    case Type::string: return a.get_string() == b.get_string();
    case Type::array: {
      const auto& x = a.get_array();
      const auto& y = b.get_array();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!deep_equal(x[i], y[i])) return false;
      return true;
    }
    case Type::object: return deep_equal(a.get_object(), b.get_object());
    default: return false;
  }
}

bool deep_equal(const Val& a, const Val& b) {
  Type ta = a.type(), tb = b.type();
  if (ta != tb) return false;
  if (ta == Type::undefined) return true;
  if (ta == Type::object) return deep_equal(*a.object(), *b.object());
  return deep_equal(*a.jv(), *b.jv());
}

std::optional<bool> sql_equal(const Val& a, const Val& b) {
  Type ta = a.type(), tb = b.type();
  if (ta == Type::undefined || tb == Type::undefined || ta != tb) return std::nullopt;
  return deep_equal(a, b);
}

namespace {
int cmp3(double x, double y) { return x < y ? -1 : x > y ? 1 : 0; }
int cmp_str(std::string_view x, std::string_view y) {
  int c = x.compare(y);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}
}  // namespace

std::optional<int> sql_compare(const Val& a, const Val& b) {
  Type ta = a.type(), tb = b.type();
  if (ta != tb) return std::nullopt;
  switch (ta) {
    case Type::null: return 0;
    case Type::boolean: return int(a.boolv()) - int(b.boolv());
    case Type::number: return cmp3(a.num(), b.num());
    case Type::string: return cmp_str(*a.str(), *b.str());
    default: return std::nullopt;
  }
}

int order_compare(const Val& a, const Val& b) {
  Type ta = a.type(), tb = b.type();
  if (ta != tb) return ta < tb ? -1 : 1;
  switch (ta) {
    case Type::undefined:
    case Type::null: return 0;
    case Type::boolean: return int(a.boolv()) - int(b.boolv());
    case Type::number: return cmp3(a.num(), b.num());
    case Type::string: return cmp_str(*a.str(), *b.str());
    default: {
      if (deep_equal(a, b)) return 0;
      std::string x, y;
      canonical(a, x);
      canonical(b, y);
      return cmp_str(x, y);
    }
  }
}

std::string number_text(double d) {
  // Integral values in int64 range print as integers (no cast outside the range: UB, found
  // by cosmos_sql_fuzz with 1e300).
  if (d == std::floor(d) && std::fabs(d) < 9.2e18) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(d));
    return std::string(buf, r.ptr);
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

namespace {
void canonical_string(std::string_view s, std::string& out) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

void canonical_object(const json::object& o, std::string& out) {
  std::vector<const json::key_value_pair*> kv;
  kv.reserve(o.size());
  for (const auto& p : o) kv.push_back(&p);
  std::sort(kv.begin(), kv.end(),
            [](auto* x, auto* y) { return x->key() < y->key(); });
  out.push_back('{');
  for (size_t i = 0; i < kv.size(); ++i) {
    if (i) out.push_back(',');
    canonical_string(kv[i]->key(), out);
    out.push_back(':');
    canonical(kv[i]->value(), out);
  }
  out.push_back('}');
}
}  // namespace

void canonical(const json::value& v, std::string& out) {
  switch (type_of(v)) {
    case Type::null: out += "null"; break;
    case Type::boolean: out += v.get_bool() ? "true" : "false"; break;
    case Type::number: out += number_text(as_double(v)); break;
    case Type::string: canonical_string(v.get_string(), out); break;
    case Type::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        canonical(e, out);
      }
      out.push_back(']');
      break;
    }
    case Type::object: canonical_object(v.get_object(), out); break;
    default: break;
  }
}

void canonical(const Val& v, std::string& out) {
  if (!v.defined()) {
    out.push_back('u');
    return;
  }
  if (const json::value* j = v.jv()) {
    canonical(*j, out);
    return;
  }
  canonical_object(*v.object(), out);
}

}  // namespace nimbus::docsql
