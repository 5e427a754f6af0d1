#pragma once
// Val: the result of evaluating a Cosmos SQL expression. Cosmos has a value JSON lacks,
// `undefined` (a missing property, a comparison across types, arithmetic on a string ...), so a
// Val is undefined, a borrowed pointer into a document / parameter / literal (no copy; the
// common case when evaluating paths), or an owned boost::json::value (computed results).
// Borrowed pointers are valid while the document they point into is (one source row).
//
// Also here: the comparisons the language defines (equality, relational, the total order
// ORDER BY uses across types), deep equality, and a canonical encoding used for DISTINCT and
// GROUP BY keys. Not thread-safe per object; the functions are pure.
#include <boost/json/value.hpp>
#include <cstdint>
#include <new>
#include <utility>
#include <optional>
#include <string>
#include <string_view>

namespace nimbus::docsql {

namespace json = boost::json;

// In the order ORDER BY sorts types ascending: undefined (absent), null, booleans, numbers,
// strings, arrays, objects. The first five are documented (ORDER BY page: "null values are
// treated as the lowest"; the SDK's orderByComparator ranks undefined < boolean < number <
// string); arrays before objects after strings follows the .NET SDK's "ORDER BY Arrays and
// Objects" change (azure-cosmos-dotnet-v3 PR 853). Unsure: how the service orders two arrays or
// two objects (the SDK compares hashes); we compare their canonical encodings, which is
// deterministic but not necessarily the service's order.
enum class Type : uint8_t { undefined = 0, null, boolean, number, string, array, object };

const char* type_name(Type t);
Type type_of(const json::value& v);

class Val {
 public:
  Val() noexcept {}
  Val(const Val& o) : k_(o.k_), r_(o.r_), o_(o.o_) {
    if (k_ == K::owned) new (&v_) json::value(o.v_);
  }
  Val(Val&& o) noexcept : k_(o.k_), r_(o.r_), o_(o.o_) {
    if (k_ == K::owned) new (&v_) json::value(std::move(o.v_));
  }
  Val& operator=(const Val& o) {
    if (this != &o) {
      reset();
      k_ = o.k_;
      r_ = o.r_;
      o_ = o.o_;
      if (k_ == K::owned) new (&v_) json::value(o.v_);
    }
    return *this;
  }
  Val& operator=(Val&& o) noexcept {
    if (this != &o) {
      reset();
      k_ = o.k_;
      r_ = o.r_;
      o_ = o.o_;
      if (k_ == K::owned) new (&v_) json::value(std::move(o.v_));
    }
    return *this;
  }
  ~Val() { reset(); }

  static Val ref(const json::value* v) {
    Val r;
    if (v) {
      r.k_ = K::ref;
      r.r_ = v;
    }
    return r;
  }
  static Val obj(const json::object* o) {
    Val r;
    if (o) {
      r.k_ = K::obj;
      r.o_ = o;
    }
    return r;
  }
  static Val own(json::value v) {
    Val r;
    new (&r.v_) json::value(std::move(v));
    r.k_ = K::owned;
    return r;
  }
  static Val boolean(bool b) { return own(json::value(b)); }
  static Val number(double d);  // undefined when not finite (Cosmos has no NaN/Infinity)
  static Val string(std::string_view s) { return own(json::value(json::string(s))); }

  bool defined() const { return k_ != K::undef; }
  bool owned() const { return k_ == K::owned; }
  Type type() const;
  // nullptr unless the value is of that type.
  const json::object* object() const;
  const json::array* array() const;
  const json::string* str() const;
  bool is_true() const;  // exactly the boolean true
  double num() const;     // requires type() == number
  bool boolv() const;     // requires type() == boolean
  // The JSON value when defined and not a bare document object (k_ == obj); else nullptr.
  const json::value* jv() const { return k_ == K::ref ? r_ : k_ == K::owned ? &v_ : nullptr; }
  // A copy (or a move, for owned values) as JSON; undefined gives null, check defined() first.
  json::value to_json() const;
  json::value take();
  // A non-owning view of this value (valid while this Val lives); cheap to copy.
  Val view() const {
    Val r;
    if (k_ == K::owned) {
      r.k_ = K::ref;
      r.r_ = &v_;
    } else {
      r.k_ = k_;
      r.r_ = r_;
      r.o_ = o_;
    }
    return r;
  }

 private:
  enum class K : uint8_t { undef, ref, obj, owned };
  void reset() noexcept {
    if (k_ == K::owned) v_.~value();
    k_ = K::undef;
  }
  K k_ = K::undef;
  const json::value* r_ = nullptr;
  const json::object* o_ = nullptr;
  // Constructed only while k_ == owned, so copying and destroying borrowed values never calls
  // into Boost.JSON.
  union {
    json::value v_;
  };
};

// A JSON number as double.
double as_double(const json::value& v);
// A number result as JSON: an int64 when it is integral and exactly representable (so 1+2
// serializes as 3, not 3E0), else a double.
json::value make_number(double d);

// Deep equality (numbers compare numerically, object key order is irrelevant).
bool deep_equal(const json::value& a, const json::value& b);
bool deep_equal(const json::object& a, const json::object& b);
bool deep_equal(const Val& a, const Val& b);

// `=`: undefined (nullopt) when either side is undefined or the types differ; else deep equality.
std::optional<bool> sql_equal(const Val& a, const Val& b);
// `<` family: -1/0/1 for two nulls, booleans, numbers or strings (ordinal, byte-wise UTF-8);
// nullopt (undefined) across types, for arrays and objects, or with undefined.
std::optional<int> sql_compare(const Val& a, const Val& b);
// The total order ORDER BY and MIN/MAX use: type rank first (see Type), then within the type.
int order_compare(const Val& a, const Val& b);

// Canonical text for hashing: sorted object keys, numbers as shortest doubles, "u" for undefined.
void canonical(const Val& v, std::string& out);
void canonical(const json::value& v, std::string& out);

// Shortest round-trip text of a number as Cosmos prints it ("1", "1.5", "1e+21").
std::string number_text(double d);

}  // namespace nimbus::docsql
