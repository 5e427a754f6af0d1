#include "storage/sqlite/document_tables.h"

#include "storage/sqlite/access_tables.h"

#include <algorithm>
#include <charconv>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "common/fulltext.h"
#include "common/ids.h"

namespace nimbus::storage::document_tables {

namespace json = boost::json;
using api::DocErrc;
using api::DocError;

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS doc_databases(
  dbid INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  etag TEXT NOT NULL,
  ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS doc_containers(
  cid INTEGER PRIMARY KEY AUTOINCREMENT,
  dbid INTEGER NOT NULL,
  database TEXT NOT NULL,
  name TEXT NOT NULL,
  definition TEXT NOT NULL,
  lsn INTEGER NOT NULL DEFAULT 0,
  etag TEXT NOT NULL,
  ts INTEGER NOT NULL,
  items INTEGER NOT NULL DEFAULT 0,
  UNIQUE(database, name));
CREATE TABLE IF NOT EXISTS doc_items(
  seq INTEGER PRIMARY KEY,
  cid INTEGER NOT NULL,
  pk TEXT NOT NULL,
  id TEXT NOT NULL,
  rid TEXT NOT NULL,
  lsn INTEGER NOT NULL,
  modified INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  etag TEXT NOT NULL,
  body BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS doc_items_key ON doc_items(cid, pk, id);
CREATE INDEX IF NOT EXISTS doc_items_lsn ON doc_items(cid, lsn);
CREATE INDEX IF NOT EXISTS doc_items_expiry ON doc_items(expires) WHERE expires < 9223372036854775807;
CREATE TABLE IF NOT EXISTS doc_index(
  cid INTEGER NOT NULL,
  path TEXT NOT NULL,
  val BLOB NOT NULL,
  item INTEGER NOT NULL,
  PRIMARY KEY(cid, path, val, item)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS doc_unique(
  cid INTEGER NOT NULL,
  pk TEXT NOT NULL,
  k INTEGER NOT NULL,
  val BLOB NOT NULL,
  item INTEGER NOT NULL,
  PRIMARY KEY(cid, pk, k, val)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS doc_unique_built(cid INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS doc_changes(
  cid INTEGER NOT NULL,
  lsn INTEGER NOT NULL,
  n INTEGER NOT NULL,
  op INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  prev INTEGER NOT NULL,
  ttl INTEGER NOT NULL,
  pk TEXT NOT NULL,
  id TEXT NOT NULL,
  body BLOB,
  PRIMARY KEY(cid, lsn, n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS doc_changes_trimmed(cid INTEGER PRIMARY KEY, lsn INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS doc_offers(
  id TEXT PRIMARY KEY,
  dbid INTEGER NOT NULL,
  cid INTEGER UNIQUE,
  content TEXT NOT NULL,
  etag TEXT NOT NULL,
  ts INTEGER NOT NULL);
)sql";

namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// Index entries hold at most this many bytes of a string: equal prefixes make candidates, and
// ranges use inclusive bounds, so truncation only widens the candidate set (never loses one).
constexpr size_t kIndexedStringBytes = 256;
constexpr char kTagNull = 1, kTagBool = 2, kTagNumber = 3, kTagString = 4;

DocError bad(std::string m) { return DocError{DocErrc::bad_request, std::move(m)}; }

std::string describe(const api::ContainerRef& r) {
  return "container \"" + r.container + "\" of database \"" + r.database + "\"";
}

// ---------------------------------------------------------------------------------------------
// Index policy: which paths the index holds.

struct PathRule {
  std::vector<std::string> segs;  // "[]" matches any array index
  bool subtree = false;           // "/*": the path and everything below; "/?": the value at it
  int specificity() const { return static_cast<int>(segs.size()) * 2 + (subtree ? 0 : 1); }
  bool matches(const std::vector<std::string>& path) const {
    if (subtree ? path.size() < segs.size() : path.size() != segs.size()) return false;
    for (size_t i = 0; i < segs.size(); ++i) {
      if (segs[i] == "[]") {
        if (path[i].empty() || !std::all_of(path[i].begin(), path[i].end(), [](char c) { return c >= '0' && c <= '9'; }))
          return false;
      } else if (segs[i] != path[i]) {
        return false;
      }
    }
    return true;
  }
};

PathRule parse_rule(std::string_view p) {
  PathRule r;
  std::vector<std::string> parts;
  size_t i = 1;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string s(p.substr(i, j - i));
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    parts.push_back(std::move(s));
    i = j + 1;
  }
  if (!parts.empty() && (parts.back() == "*" || parts.back() == "?")) {
    r.subtree = parts.back() == "*";
    parts.pop_back();
  }
  r.segs = std::move(parts);
  return r;
}

struct Policy {
  bool none = false;
  std::vector<PathRule> included, excluded;

  explicit Policy(const json::object& p) {
    if (auto* m = p.if_contains("indexingMode"); m && m->is_string() && m->as_string() == "none") none = true;
    auto load = [&](const char* key, std::vector<PathRule>& out) {
      if (auto* a = p.if_contains(key); a && a->is_array())
        for (auto& e : a->as_array())
          if (e.is_object())
            if (auto* s = e.as_object().if_contains("path"); s && s->is_string()) out.push_back(parse_rule(s->as_string()));
    };
    load("includedPaths", included);
    load("excludedPaths", excluded);
    if (auto* a = p.if_contains("fullTextIndexes"); a && a->is_array())
      for (auto& e : a->as_array())
        if (auto* s = e.is_object() ? e.as_object().if_contains("path") : nullptr; s && s->is_string())
          fulltext.push_back(std::string(s->as_string()));
    if (auto* a = p.if_contains("vectorIndexes"); a && a->is_array())
      for (auto& e : a->as_array())
        if (auto* s = e.is_object() ? e.as_object().if_contains("path") : nullptr; s && s->is_string())
          vectors.push_back(std::string(s->as_string()));
    // Everything is indexed (but the store's own properties) when "/*" is included and every
    // excluded path lies under one of the store's own properties, as the default policy's
    // /"_etag"/? does: then indexed() needs no rule matching (collect_everything).
    bool root = std::any_of(included.begin(), included.end(), [](const PathRule& r) { return r.segs.empty() && r.subtree; });
    bool own_only = std::all_of(excluded.begin(), excluded.end(), [](const PathRule& r) {
      return !r.segs.empty() && (r.segs[0] == "_rid" || r.segs[0] == "_self" || r.segs[0] == "_etag" ||
                                 r.segs[0] == "_attachments" || r.segs[0] == "_lsn");
    });
    everything = !none && root && own_only;
  }
  bool everything = false;
  // indexingPolicy.fullTextIndexes paths ("/body", as written: the same form as encode_path's
  // for plain property names). A string at one also gets one index row per distinct token of
  // its text (fulltext_rows), whatever includedPaths says.
  std::vector<std::string> fulltext;
  // indexingPolicy.vectorIndexes paths (as fulltext). An array of numbers at one also gets one
  // index row holding the vector (vector_rows), whatever includedPaths says. Every type (flat,
  // quantizedFlat, diskANN) is kept the same way, exact: a search over it scores every vector.
  std::vector<std::string> vectors;

  // The store's own properties are not indexed, except _ts (as the service indexes it).
  bool indexed(const std::vector<std::string>& path) const {
    if (none || path.empty()) return false;
    if (path.size() >= 1 && (path[0] == "_rid" || path[0] == "_self" || path[0] == "_etag" ||
                             path[0] == "_attachments" || path[0] == "_lsn"))
      return false;
    int inc = -1, exc = -1;
    for (auto& r : included) if (r.matches(path)) inc = std::max(inc, r.specificity());
    for (auto& r : excluded) if (r.matches(path)) exc = std::max(exc, r.specificity());
    return inc > exc;  // the most specific rule wins; a tie excludes
  }
};

// ---------------------------------------------------------------------------------------------
// Unique keys (uniqueKeyPolicy).
//
// Why a table of its own and not doc_index: a unique key may combine several paths, must hold
// whole values (doc_index truncates strings) and must be checked whatever the index policy
// excludes. doc_unique holds one row per (container, logical partition, key, value tuple) with
// the item that owns it; its primary key makes the check one lookup. Rows are derived from the
// stored body (as index entries are), so they are removed by recomputing them from the old body.

struct UniqueKey {
  std::vector<std::vector<std::string>> paths;  // property names per path
  std::string shown;                            // "/email" or "(/first, /last)" for messages
};

std::vector<std::string> split_path(std::string_view p);

// The keys of a policy as stored. Lenient: a policy stored before it was checked keeps what
// parses (a container must never become unreadable).
std::vector<UniqueKey> unique_keys_of(const json::object& policy) {
  std::vector<UniqueKey> out;
  auto* keys = policy.if_contains("uniqueKeys");
  if (!keys || !keys->is_array()) return out;
  for (auto& k : keys->as_array()) {
    auto* paths = k.is_object() ? k.as_object().if_contains("paths") : nullptr;
    if (!paths || !paths->is_array() || paths->as_array().empty()) continue;
    UniqueKey uk;
    bool ok = true;
    for (auto& p : paths->as_array()) {
      if (!p.is_string() || p.as_string().size() < 2 || p.as_string()[0] != '/') { ok = false; break; }
      uk.paths.push_back(split_path(p.as_string()));
      uk.shown += (uk.shown.empty() ? "" : ", ") + std::string(p.as_string());
    }
    if (!ok) continue;
    if (uk.paths.size() > 1) uk.shown = "(" + uk.shown + ")";
    out.push_back(std::move(uk));
  }
  return out;
}

// The strict check at container creation: what is wrong, named, with the fix.
std::optional<DocError> check_unique_key_policy(const json::object& policy, const std::string& container) {
  if (policy.empty()) return std::nullopt;
  std::string where = "container \"" + container + "\": uniqueKeyPolicy";
  std::string example = "; send {\"uniqueKeys\": [{\"paths\": [\"/email\"]}]}";
  auto* keys = policy.if_contains("uniqueKeys");
  if (!keys || !keys->is_array()) return bad(where + " has no \"uniqueKeys\" array" + example);
  for (size_t i = 0; i < keys->as_array().size(); ++i) {
    const auto& k = keys->as_array()[i];
    auto* paths = k.is_object() ? k.as_object().if_contains("paths") : nullptr;
    std::string at = where + ".uniqueKeys[" + std::to_string(i) + "]";
    if (!paths || !paths->is_array() || paths->as_array().empty())
      return bad(at + " has no non-empty \"paths\" array" + example);
    for (auto& p : paths->as_array()) {
      if (!p.is_string() || p.as_string().size() < 2 || p.as_string()[0] != '/')
        return bad(at + ": path " + json::serialize(p) + " is not a path like \"/email\" or \"/address/zip\"" + example);
      for (auto& seg : split_path(p.as_string()))
        if (seg.empty() || seg == "*" || seg == "?")
          return bad(at + ": path \"" + std::string(p.as_string()) + "\" has an empty or wildcard segment; unique key paths name one property each, e.g. \"/address/zip\"");
    }
  }
  return std::nullopt;
}

std::optional<json::value> canonical_component(const json::value& v);

// The value tuple of each unique key of `doc`, as stored in doc_unique.val: a missing value is
// null (the service treats it so: "Sparse unique keys are not supported"), integral numbers
// print as integers (1 and 1.0 collide), strings compare exactly (case-sensitive; unsure).
std::vector<std::pair<int64_t, std::string>> unique_entries(const json::object& doc, const std::vector<UniqueKey>& keys) {
  std::vector<std::pair<int64_t, std::string>> out;
  for (size_t k = 0; k < keys.size(); ++k) {
    json::array tuple;
    for (auto& path : keys[k].paths) {
      const json::value* v = nullptr;
      const json::object* o = &doc;
      for (size_t i = 0; i < path.size() && o; ++i) {
        v = o->if_contains(path[i]);
        if (!v) break;
        o = v->if_object();
        if (i + 1 < path.size() && !o) v = nullptr;
      }
      if (!v) {
        tuple.emplace_back(nullptr);
      } else if (auto cv = canonical_component(*v)) {
        tuple.push_back(std::move(*cv));
      } else {
        tuple.push_back(*v);
      }
    }
    out.emplace_back(static_cast<int64_t>(k), json::serialize(tuple));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Containers.

struct ContainerDef;

// A container as one write sees it: its row (cid, LSN, etag) and its parsed definition, shared
// with the definition cache by reference (a copy of the spec cost ~3k instructions per write).
struct Container {
  int64_t cid = 0;
  int64_t dbid = 0;
  api::ContainerRef ref;
  int64_t lsn = 0;
  std::string etag;
  int64_t ts = 0;
  int64_t items = 0;  // item rows, expired ones not yet purged included (load_container)
  std::shared_ptr<const ContainerDef> def;
  const api::ContainerSpec& spec() const;
  const Policy& policy() const;
  const std::vector<UniqueKey>& unique_keys() const;
};

}  // namespace

// Shared with access_tables.cc (document_tables.h).
std::string rid_of(std::string_view raw) {
  std::string s = base64_encode(raw);
  std::replace(s.begin(), s.end(), '/', '-');  // rids appear in _self paths
  return s;
}
std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
  return s;
}
std::string be64(uint64_t v) { return be32(static_cast<uint32_t>(v >> 32)) + be32(static_cast<uint32_t>(v)); }
std::string db_rid(int64_t dbid) { return rid_of(be32(static_cast<uint32_t>(dbid))); }

namespace {
std::string container_raw(const Container& c) {
  return be32(static_cast<uint32_t>(c.dbid)) + be32(static_cast<uint32_t>(c.cid));
}
std::string container_rid(const Container& c) { return rid_of(container_raw(c)); }
}  // namespace

std::string quoted_uuid() { return "\"" + new_uuid() + "\""; }

namespace {

json::object spec_to_json(const api::ContainerSpec& s) {
  json::object o;
  o["id"] = s.id;
  o["indexingPolicy"] = s.indexing_policy;
  if (!s.partition_key_paths.empty()) {
    json::array paths;
    for (auto& p : s.partition_key_paths) paths.emplace_back(p);
    o["partitionKey"] = json::object{{"paths", std::move(paths)}, {"kind", s.partition_key_kind}, {"version", s.partition_key_version}};
  }
  if (s.default_ttl) o["defaultTtl"] = *s.default_ttl;
  if (s.change_feed_retention_minutes > 0) o["changeFeedPolicy"] = json::object{{"retentionDuration", s.change_feed_retention_minutes}};
  if (!s.vector_embedding_policy.empty()) o["vectorEmbeddingPolicy"] = s.vector_embedding_policy;
  if (!s.full_text_policy.empty()) o["fullTextPolicy"] = s.full_text_policy;
  if (!s.unique_key_policy.empty()) o["uniqueKeyPolicy"] = s.unique_key_policy;
  if (s.geospatial_type != "Geography") o["geospatialConfig"] = json::object{{"type", s.geospatial_type}};
  if (!s.computed_properties.empty()) {
    json::array cps;
    for (auto& [name, query] : s.computed_properties) cps.push_back(json::object{{"name", name}, {"query", query}});
    o["computedProperties"] = std::move(cps);
  }
  return o;
}

json::object container_resource(const Container& c) {
  json::object o = spec_to_json(c.spec());
  o["conflictResolutionPolicy"] = json::object{{"mode", "LastWriterWins"}, {"conflictResolutionPath", "/_ts"}, {"conflictResolutionProcedure", ""}};
  o["geospatialConfig"] = json::object{{"type", c.spec().geospatial_type}};
  std::string rid = container_rid(c);
  o["_rid"] = rid;
  o["_self"] = "dbs/" + db_rid(c.dbid) + "/colls/" + rid + "/";
  o["_etag"] = c.etag;
  o["_ts"] = c.ts;
  o["_docs"] = "docs/";
  o["_sprocs"] = "sprocs/";
  o["_triggers"] = "triggers/";
  o["_udfs"] = "udfs/";
  o["_conflicts"] = "conflicts/";
  return o;
}

DocError container_not_found(const api::ContainerRef& r) {
  return DocError{DocErrc::not_found, describe(r) + " does not exist; create it first (POST /dbs/" + r.database + "/colls)"};
}


// A container's definition parsed once, not per operation: parsing the stored JSON,
// re-validating it as a ContainerSpec and compiling its index policy cost more than a point
// read itself. Each operation still reads the container's row (cid, etag, lsn: one lookup on
// the UNIQUE(database, name) index), so a deleted or re-created container is seen at once, and
// its LSN is always the stored one; the definition is reused while (cid, etag) is unchanged. The etag is a random UUID
// set when the container is created (and would change with any future replace), so the key
// cannot match another container or another database file in the same process.
struct ContainerDef {
  int64_t cid = 0;
  int64_t dbid = 0;
  std::string etag;
  api::ContainerSpec spec;
  std::shared_ptr<const Policy> policy;
  std::vector<UniqueKey> unique_keys;
  // The container's raw rid bytes (dbid, cid) and its items' _self prefix
  // ("dbs/<rid>/colls/<rid>/docs/"), made once: base64 and string building were ~1.5k
  // instructions of every write. Empty in a definition not made by definition().
  std::string raw;
  std::string rid;  // the container's _rid (its items' x-ms-content-path)
  std::string docs_prefix;
  // ORDER BY from the index (query()): per encoded path, whether every stored row holds an
  // index entry at exactly that path, and the container LSN that answer holds for
  // (every_row_indexed_at()).
  mutable std::mutex mu;
  mutable std::map<std::string, std::pair<int64_t, bool>> full_paths;  // file + path -> (lsn, answer)
};

const api::ContainerSpec& Container::spec() const { return def->spec; }
const Policy& Container::policy() const { return *def->policy; }
const std::vector<UniqueKey>& Container::unique_keys() const { return def->unique_keys; }

struct ReadContainer {
  std::shared_ptr<const ContainerDef> def;
  api::ContainerRef ref;
  int64_t lsn = 0;
  const api::ContainerSpec& spec() const { return def->spec; }
  const Policy& policy() const { return *def->policy; }
  int64_t cid() const { return def->cid; }
};

// Process-wide, shared by every engine and thread (tests open many stores in one process);
// bounded: past kMaxEntries it starts over, which only costs a re-parse per container.
class DefinitionCache {
 public:
  std::shared_ptr<const ContainerDef> get(int64_t cid, const std::string& etag) {
    std::lock_guard lk(mu_);
    auto it = map_.find({cid, etag});
    return it == map_.end() ? nullptr : it->second;
  }
  void put(int64_t cid, const std::string& etag, std::shared_ptr<const ContainerDef> def) {
    std::lock_guard lk(mu_);
    if (map_.size() >= kMaxEntries) map_.clear();
    map_[{cid, etag}] = std::move(def);
  }

 private:
  static constexpr size_t kMaxEntries = 1024;
  std::mutex mu_;
  std::map<std::pair<int64_t, std::string>, std::shared_ptr<const ContainerDef>> map_;
};

DefinitionCache& definition_cache() {
  static DefinitionCache* cache = new DefinitionCache;  // never destroyed: used until exit
  return *cache;
}

// The definition of container `cid` whose row carries `etag`, from the cache or parsed now.
std::shared_ptr<const ContainerDef> definition(SqliteDb& db, int64_t cid, const std::string& etag, const api::ContainerRef& ref) {
  if (auto def = definition_cache().get(cid, etag)) return def;
  auto st = db.q("SELECT dbid, definition FROM doc_containers WHERE cid=?1");
  st.bind(1, cid);
  if (!st.step()) throw SqlError("container " + describe(ref) + " vanished while being read");
  auto def = std::make_shared<ContainerDef>();
  def->cid = cid;
  def->dbid = st.i64(0);
  def->etag = etag;
  boost::system::error_code ec;
  json::value text = json::parse(st.text(1), ec);
  if (ec || !text.is_object()) throw SqlError("container definition of " + describe(ref) + " is not JSON");
  auto spec = api::ContainerSpec::from_json(text.as_object());
  if (!spec) throw SqlError("container definition of " + describe(ref) + " is invalid: " + spec.error().message);
  def->spec = std::move(spec.value());
  def->policy = std::make_shared<const Policy>(def->spec.indexing_policy);
  def->unique_keys = unique_keys_of(def->spec.unique_key_policy);
  def->raw = be32(static_cast<uint32_t>(def->dbid)) + be32(static_cast<uint32_t>(cid));
  def->rid = rid_of(def->raw);
  def->docs_prefix = "dbs/" + db_rid(def->dbid) + "/colls/" + def->rid + "/docs/";
  definition_cache().put(cid, etag, def);
  return def;
}

std::optional<Container> load_container(SqliteDb& db, const api::ContainerRef& ref) {
  auto st = db.q("SELECT cid, dbid, lsn, etag, ts, items FROM doc_containers WHERE database=?1 AND name=?2");
  st.bind(1, ref.database).bind(2, ref.container);
  if (!st.step()) return std::nullopt;
  Container c;
  c.cid = st.i64(0);
  c.dbid = st.i64(1);
  c.ref = ref;
  c.lsn = st.i64(2);
  c.etag = st.text(3);
  c.ts = st.i64(4);
  c.items = st.i64(5);
  c.def = definition(db, c.cid, c.etag, ref);
  return c;
}

std::optional<ReadContainer> load_read_container(SqliteDb& db, const api::ContainerRef& ref) {
  auto st = db.q("SELECT cid, etag, lsn FROM doc_containers WHERE database=?1 AND name=?2");
  st.bind(1, ref.database).bind(2, ref.container);
  if (!st.step()) return std::nullopt;
  ReadContainer rc;
  rc.ref = ref;
  rc.lsn = st.i64(2);
  rc.def = definition(db, st.i64(0), st.text(1), ref);
  return rc;
}

// For a point read, which needs the container's cid and definition but not its LSN: from the
// connection's catalog (SqliteDb::doc_catalog) when it has the container, else as
// load_read_container and remembered (a container replace clears it too). Why: the lookup of
// the container row was ~9 % of a point
// read's instructions. Deleted or re-created containers are still seen at once: creating or
// deleting one clears the catalog in the same transaction, and so does a rollback.
std::optional<ReadContainer> load_point_container(SqliteDb& db, const api::ContainerRef& ref) {
  if (auto d = db.doc_catalog.find(std::string_view(ref.database)); d != db.doc_catalog.end())
    if (auto c = d->second.find(std::string_view(ref.container)); c != d->second.end()) {
      ReadContainer rc;
      rc.ref = ref;
      rc.def = std::static_pointer_cast<const ContainerDef>(c->second.def);
      return rc;
    }
  auto rc = load_read_container(db, ref);
  if (!rc) return rc;
  if (db.doc_catalog.size() >= 1024) db.doc_catalog.clear();  // bounded; refilled on use
  db.doc_catalog[ref.database][ref.container] = SqliteDb::DocCatalogEntry{rc->cid(), rc->def};
  rc->lsn = 0;  // not read from the catalog either: callers must not need it
  return rc;
}

// A container as an item write needs it (cid, definition, LSN), from the connection's catalog
// when it knows the container's LSN, else from its row (load_container), then remembered.
// Why: the row's lookup on UNIQUE(database, name) and the definition cache's lookup were ~5k
// instructions of every write. The remembered LSN is only a guess: bump_lsn's UPDATE holds
// it against the row, and a guess a rolled-back savepoint made stale is thrown away and the
// write run again from the row (write_item, delete_item), before it wrote anything.
std::optional<Container> load_write_container(SqliteDb& db, const api::ContainerRef& ref,
                                              SqliteDb::DocCatalogEntry** entry) {
  *entry = nullptr;
  if (auto d = db.doc_catalog.find(std::string_view(ref.database)); d != db.doc_catalog.end())
    if (auto e = d->second.find(std::string_view(ref.container)); e != d->second.end() && e->second.lsn >= 0) {
      Container c;
      c.def = std::static_pointer_cast<const ContainerDef>(e->second.def);
      c.cid = e->second.cid;
      c.dbid = c.def->dbid;
      c.ref = ref;
      c.lsn = e->second.lsn;
      *entry = &e->second;
      return c;
    }
  auto c = load_container(db, ref);
  if (!c) return c;
  if (db.doc_catalog.size() >= 1024) db.doc_catalog.clear();  // bounded; refilled on use
  auto& e = db.doc_catalog[ref.database][ref.container];
  e = SqliteDb::DocCatalogEntry{c->cid, c->def, c->lsn};
  *entry = &e;
  return c;
}

// The connection's remembered LSN of a container no longer holds (a rolled-back savepoint).
void forget_lsn(SqliteDb& db, const api::ContainerRef& ref) {
  if (auto d = db.doc_catalog.find(std::string_view(ref.database)); d != db.doc_catalog.end())
    if (auto e = d->second.find(std::string_view(ref.container)); e != d->second.end()) e->second.lsn = -1;
}

// Thrown by bump_lsn when the container's row does not hold the LSN the write was prepared
// with (its catalog entry was stale); nothing was written yet, so the write runs again.
struct StaleLsn {};

// The second run of a write after StaleLsn, which read the container's row in this very
// transaction: a second mismatch cannot happen, and would fail the batch rather than escape
// the engine as an unknown exception.
template <class F>
auto rerun_from_row(F&& write) {
  try {
    return write();
  } catch (const StaleLsn&) {
    throw SqlError("a container's LSN changed while one of its items was written");
  }
}

// `items_delta`: +1 when the write adds a row to doc_items, -1 when it deletes one, so
// doc_containers.items always counts the container's rows (a metric read in O(containers)).
// The first write of every operation: it takes the next LSN only if the row still holds the
// one the write was prepared with.
void bump_lsn(SqliteDb& db, Container& c, SqliteDb::DocCatalogEntry* entry, int64_t items_delta = 0) {
  {
    auto st = db.q("UPDATE doc_containers SET lsn=?2, items=items+?3 WHERE cid=?1 AND lsn=?4");
    st.bind(1, c.cid).bind(2, c.lsn + 1).bind(3, items_delta).bind(4, c.lsn);
    st.step();
  }
  if (db.changes() != 1) {
    if (entry) entry->lsn = -1;
    throw StaleLsn{};
  }
  ++c.lsn;
  if (entry) entry->lsn = c.lsn;
}

// ---------------------------------------------------------------------------------------------
// Partition keys.

// The canonical text of one partition key component: numbers that are integers print as
// integers whatever their JSON type (1, 1.0 and 1e0 are one partition), `{}` is undefined.
std::optional<json::value> canonical_component(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
    case json::kind::bool_:
    case json::kind::string:
    case json::kind::int64:
      return v;
    case json::kind::uint64:
      if (v.as_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return json::value(static_cast<int64_t>(v.as_uint64()));
      return json::value(static_cast<double>(v.as_uint64()));
    case json::kind::double_: {
      double d = v.as_double();
      if (!std::isfinite(d)) return std::nullopt;
      if (d == std::floor(d) && std::fabs(d) < 9.2e18) return json::value(static_cast<int64_t>(d));
      return v;
    }
    case json::kind::object:
      if (v.as_object().empty()) return v;  // undefined
      return std::nullopt;
    case json::kind::array:
      return std::nullopt;
  }
  return std::nullopt;
}

std::variant<std::string, DocError> canonical_pk(const api::PartitionKey& pk, const api::ContainerSpec& spec,
                                                 const api::ContainerRef& ref) {
  size_t n = spec.partition_key_paths.size();
  if (n == 0) {
    if (pk.empty() || (pk.size() == 1 && pk[0].is_object() && pk[0].as_object().empty())) return std::string("[]");
    return bad("partition key " + json::serialize(pk) + " given for " + describe(ref) + ", which is not partitioned; send [] or no partition key");
  }
  if (pk.size() != n)
    return bad("partition key " + json::serialize(pk) + " has " + std::to_string(pk.size()) + " component(s), but " + describe(ref) + " has " + std::to_string(n) + " partition key path(s); send one value per path, e.g. [\"v\"]");
  json::array out;
  for (auto& v : pk) {
    auto cv = canonical_component(v);
    if (!cv) return bad("partition key " + json::serialize(pk) + " for " + describe(ref) + " has a component that is an object, array or non-finite number; partition key values are strings, numbers, booleans or null");
    out.push_back(std::move(*cv));
  }
  std::string text = json::serialize(out);
  if (text.size() > api::kMaxPartitionKeyBytes)
    return bad("partition key value of " + std::to_string(text.size()) + " bytes for " + describe(ref) + " is over the limit of 2048 bytes; use a shorter value");
  return text;
}
std::variant<std::string, DocError> canonical_pk(const api::PartitionKey& pk, const Container& c) {
  return canonical_pk(pk, c.spec(), c.ref);
}
std::variant<std::string, DocError> canonical_pk(const api::PartitionKey& pk, const ReadContainer& c) {
  return canonical_pk(pk, c.spec(), c.ref);
}

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 1;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string s(p.substr(i, j - i));
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    out.push_back(std::move(s));
    i = j + 1;
  }
  return out;
}

// The partition key of a body: the value at each path, `{}` where it is missing or `{}`.
std::variant<api::PartitionKey, DocError> pk_of_body(const json::object& body, const Container& c) {
  api::PartitionKey pk;
  for (auto& path : c.spec().partition_key_paths) {
    const json::value* v = nullptr;
    const json::object* o = &body;
    auto segs = split_path(path);
    for (size_t i = 0; i < segs.size() && o; ++i) {
      v = o->if_contains(segs[i]);
      if (!v) break;
      o = (i + 1 < segs.size() && v->is_object()) ? &v->as_object() : nullptr;
      if (i + 1 < segs.size() && !v->is_object()) v = nullptr;
    }
    // An empty object stands for "undefined", as the SDK's `{}` does (its own bulk tests write
    // items with `key2: {}` into hierarchical containers and address them as undefined).
    if (!v || (v->is_object() && v->as_object().empty())) {
      pk.emplace_back(json::object());
    } else if (v->is_object() || v->is_array()) {
      return bad("the item's partition key value at " + path + " is " + (v->is_object() ? "an object" : "an array") + "; partition key values are strings, numbers, booleans or null");
    } else {
      pk.push_back(*v);
    }
  }
  return pk;
}

// ---------------------------------------------------------------------------------------------
// The index.

std::string encode_double(double d) {
  if (d == 0) d = 0;  // -0 and 0 are one value
  uint64_t bits = std::bit_cast<uint64_t>(d);
  bits = (bits & 0x8000000000000000ull) ? ~bits : (bits | 0x8000000000000000ull);
  std::string s(1, kTagNumber);
  s += be64(bits);
  return s;
}

// The upper end of a type's range: every encoding of that type sorts below it (numbers carry
// 8 payload bytes below 0xFF.. and UTF-8 never holds 0xFF).
std::string type_end(char tag) { return std::string(1, tag) + std::string(9, '\xFF'); }

void collect(const json::value& v, std::vector<std::string>& path, const Policy& policy,
             std::vector<std::pair<std::string, std::string>>& out);

// The full-text index rows of a path: under the path's encoding after a byte no encoded path
// begins with, so they never mix with the path's value rows.
std::string fulltext_key(std::string_view encoded_path) { return "\x01" + std::string(encoded_path); }

// A token as the index holds it (cut like long strings: a cut token only widens candidates).
std::string fulltext_value(std::string_view token) { return std::string(token.substr(0, kIndexedStringBytes)); }

// The string `v` at `encoded_path`: one row per distinct token when the path has a full-text
// index.
void fulltext_rows(const std::string& encoded_path, const json::value& v, const Policy& policy,
                   std::vector<std::pair<std::string, std::string>>& out) {
  if (policy.fulltext.empty() || !v.is_string()) return;
  if (std::find(policy.fulltext.begin(), policy.fulltext.end(), encoded_path) == policy.fulltext.end()) return;
  std::vector<std::string> tokens = fulltext::analyze(v.get_string());
  for (auto& t : tokens) t = fulltext_value(t);
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  std::string key = fulltext_key(encoded_path);
  for (auto& t : tokens) out.emplace_back(key, std::move(t));
}

// The vector index row of a path: under the path's encoding after another byte no encoded path
// begins with (see fulltext_key).
std::string vector_key(std::string_view encoded_path) { return "\x02" + std::string(encoded_path); }

// The array `v` at `encoded_path`, when the path has a vector index and `v` holds numbers only:
// one row whose value is the numbers as doubles in the machine's byte order (a file is read
// where it was written; both machines this builds for are little-endian).
void vector_rows(const std::string& encoded_path, const json::array& v, const Policy& policy,
                 std::vector<std::pair<std::string, std::string>>& out) {
  if (v.empty() || std::find(policy.vectors.begin(), policy.vectors.end(), encoded_path) == policy.vectors.end()) return;
  std::string packed(v.size() * sizeof(double), '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number()) return;
    double x = v[i].to_number<double>();
    // -0 and 0 are one value: JSON equality says so, and update_index skips a property whose
    // value is equal, so the row must not depend on which of the two was written.
    if (x == 0) x = 0;
    std::memcpy(packed.data() + i * sizeof(double), &x, sizeof x);
  }
  out.emplace_back(vector_key(encoded_path), std::move(packed));
}

// The store's own top-level properties that are never indexed (Policy::indexed says why).
bool unindexed_system_property(std::string_view k) {
  return k == "_rid" || k == "_self" || k == "_etag" || k == "_attachments" || k == "_lsn";
}

void collect_members(const json::object& o, std::vector<std::string>& path, const Policy& policy,
                     std::vector<std::pair<std::string, std::string>>& out) {
  for (auto& m : o) {
    if (path.empty() && unindexed_system_property(m.key())) continue;
    path.emplace_back(m.key());
    collect(m.value(), path, policy, out);
    path.pop_back();
  }
}

void collect(const json::value& v, std::vector<std::string>& path, const Policy& policy,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (v.is_object()) {
    collect_members(v.as_object(), path, policy, out);
  } else if (v.is_array()) {
    const auto& a = v.as_array();
    if (!policy.vectors.empty()) vector_rows(encode_path(path), a, policy, out);
    for (size_t i = 0; i < a.size(); ++i) {
      path.push_back(std::to_string(i));
      collect(a[i], path, policy, out);
      path.pop_back();
    }
  } else {
    bool ranged = policy.indexed(path), worded = !policy.fulltext.empty() && v.is_string();
    if (!ranged && !worded) return;
    std::string encoded = encode_path(path);
    if (worded) fulltext_rows(encoded, v, policy, out);
    if (ranged)
      if (auto e = encode_index_value(v)) out.emplace_back(std::move(encoded), std::move(*e));
  }
}

// One component appended to an encoded path, as encode_path writes it.
void append_component(std::string& path, std::string_view c) {
  path.push_back('/');
  for (char ch : c) {
    if (ch == '~') path += "~0";
    else if (ch == '/') path += "~1";
    else path.push_back(ch);
  }
}

// collect() for a policy that indexes everything (Policy::everything): the same entries, with
// the encoded path kept as one string instead of a component list that every entry encoded
// again and every rule was matched against (~40 % of the entries' cost).
void collect_everything(const json::value& v, std::string& path, const Policy& policy,
                        std::vector<std::pair<std::string, std::string>>& out) {
  if (auto* o = v.if_object()) {
    for (auto& m : *o) {
      size_t n = path.size();
      append_component(path, m.key());
      collect_everything(m.value(), path, policy, out);
      path.resize(n);
    }
  } else if (auto* a = v.if_array()) {
    if (!policy.vectors.empty()) vector_rows(path, *a, policy, out);
    for (size_t i = 0; i < a->size(); ++i) {
      size_t n = path.size();
      path.push_back('/');
      path += std::to_string(i);
      collect_everything((*a)[i], path, policy, out);
      path.resize(n);
    }
  } else if (!path.empty()) {
    if (auto e = encode_index_value(v)) out.emplace_back(path, std::move(*e));
    if (!policy.fulltext.empty()) fulltext_rows(path, v, policy, out);
  }
}

// The entries of one top-level property `key` holding `v` (never one of the store's own
// unindexed properties).
void collect_property(std::string_view key, const json::value& v, const Policy& policy,
                      std::vector<std::pair<std::string, std::string>>& out) {
  if (policy.everything) {
    std::string path;
    append_component(path, key);
    collect_everything(v, path, policy, out);
  } else {
    std::vector<std::string> path(1, std::string(key));
    collect(v, path, policy, out);
  }
}

std::vector<std::pair<std::string, std::string>> index_entries(const json::object& doc, const Policy& policy) {
  std::vector<std::pair<std::string, std::string>> out;
  if (policy.none) return out;
  out.reserve(doc.size());
  if (policy.everything) {
    for (auto& m : doc)
      if (!unindexed_system_property(m.key())) collect_property(m.key(), m.value(), policy, out);
    return out;
  }
  std::vector<std::string> path;
  collect_members(doc, path, policy, out);  // not through a json::value: that copies the item
  return out;
}

// Index rows go in up to kIndexRowsPerInsert at a time: one statement per row cost a
// statement's start, cursor and reset for every path of every item written.
constexpr size_t kIndexRowsPerInsert = 8;

// The INSERT for n rows (1..kIndexRowsPerInsert); static, since prepared statements are cached
// by the address of their text.
const char* index_insert_sql(size_t n) {
  static const std::vector<std::string> sql = [] {
    std::vector<std::string> v(kIndexRowsPerInsert + 1);
    for (size_t k = 1; k <= kIndexRowsPerInsert; ++k) {
      v[k] = "INSERT OR IGNORE INTO doc_index(cid,path,val,item) VALUES";
      for (size_t r = 0; r < k; ++r)
        v[k] += std::string(r ? "," : "") + "(?1,?" + std::to_string(3 + 2 * r) + ",?" +
                std::to_string(4 + 2 * r) + ",?2)";
    }
    return v;
  }();
  return sql[n].c_str();
}

void insert_index_rows(SqliteDb& db, int64_t cid, int64_t seq,
                       const std::vector<const std::pair<std::string, std::string>*>& rows) {
  for (size_t at = 0; at < rows.size(); at += kIndexRowsPerInsert) {
    size_t n = std::min(kIndexRowsPerInsert, rows.size() - at);
    auto st = db.q(index_insert_sql(n));
    st.bind(1, cid).bind(2, seq);
    for (size_t r = 0; r < n; ++r)
      st.bind(static_cast<int>(3 + 2 * r), rows[at + r]->first)
          .bind_blob(static_cast<int>(4 + 2 * r), rows[at + r]->second);
    st.step();
  }
}

void add_index(SqliteDb& db, int64_t cid, int64_t seq, const json::object& doc, const Policy& policy) {
  auto entries = index_entries(doc, policy);
  std::vector<const std::pair<std::string, std::string>*> rows;
  rows.reserve(entries.size());
  for (auto& e : entries) rows.push_back(&e);
  insert_index_rows(db, cid, seq, rows);
}

// One single-row DELETE per index row. Measured: one DELETE with the rows as OR terms cost
// ~19 % more (SQLite seeks each row twice, once to find it and once to delete it), and a
// row-value IN (VALUES ...) is planned as a scan of the container's entries.
void delete_index_rows(SqliteDb& db, int64_t cid, int64_t seq,
                       const std::vector<const std::pair<std::string, std::string>*>& rows) {
  for (auto* row : rows) {
    auto st = db.q("DELETE FROM doc_index WHERE cid=?1 AND path=?2 AND val=?3 AND item=?4");
    st.bind(1, cid).bind(2, row->first).bind_blob(3, row->second).bind(4, seq);
    st.step();
  }
}

void remove_index(SqliteDb& db, int64_t cid, int64_t seq, const json::object& doc, const Policy& policy) {
  auto entries = index_entries(doc, policy);
  std::vector<const std::pair<std::string, std::string>*> rows;
  rows.reserve(entries.size());
  for (auto& e : entries) rows.push_back(&e);
  delete_index_rows(db, cid, seq, rows);
}

// A rewrite of an item touches only the index rows whose path or value changed: an upsert that
// changes one field of a six-field item was fourteen index B-tree writes, now two.
// Only the top-level properties whose value changed are collected and compared: entries
// derive from (path, value, policy) alone, so an equal value under the same key yields equal
// entries (collecting and sorting both versions' entries of every property was ~40 % of an
// upsert's index work).
void update_index(SqliteDb& db, int64_t cid, int64_t seq, const json::object& old_doc,
                  const json::object& new_doc, const Policy& policy) {
  if (policy.none) return;
  std::vector<std::pair<std::string, std::string>> before, after;
  for (auto& m : new_doc) {
    if (unindexed_system_property(m.key())) continue;
    const json::value* was = old_doc.if_contains(m.key());
    if (was && *was == m.value()) continue;
    if (was) collect_property(m.key(), *was, policy, before);
    collect_property(m.key(), m.value(), policy, after);
  }
  for (auto& m : old_doc) {
    if (unindexed_system_property(m.key()) || new_doc.contains(m.key())) continue;
    collect_property(m.key(), m.value(), policy, before);
  }
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  std::vector<const std::pair<std::string, std::string>*> added, removed;
  size_t i = 0, j = 0;
  while (i < before.size() || j < after.size()) {
    if (j == after.size() || (i < before.size() && before[i] < after[j])) {
      removed.push_back(&before[i]);
      ++i;
    } else if (i == before.size() || after[j] < before[i]) {
      added.push_back(&after[j]);
      ++j;
    } else {
      ++i, ++j;  // the same row before and after
    }
  }
  delete_index_rows(db, cid, seq, removed);
  insert_index_rows(db, cid, seq, added);
}

// `sp`: where the values live; a local arena for an item that is only looked at (the old
// version of a rewritten or deleted item), the default heap otherwise.
json::object parse_body(const std::string& text, json::storage_ptr sp = {}) {
  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = api::kMaxItemDepth + 8;
  json::value v = json::parse(text, ec, std::move(sp), opt);
  if (ec || !v.is_object()) throw SqlError("a stored item is not a JSON object: " + ec.message());
  return std::move(v.as_object());
}

// ---------------------------------------------------------------------------------------------
// Items.

struct Row {
  int64_t seq = 0;
  std::string rid;
  int64_t lsn = 0;
  int64_t expires = 0;
  std::string etag;
  std::string body;
  std::string id;  // only where the caller reads it (a partition's deletion)
};

std::optional<Row> find_row(SqliteDb& db, int64_t cid, const std::string& pk, const std::string& id) {
  auto st = db.q("SELECT seq, rid, lsn, expires, etag, body FROM doc_items WHERE cid=?1 AND pk=?2 AND id=?3");
  st.bind(1, cid).bind(2, pk).bind(3, id);
  if (!st.step()) return std::nullopt;
  return Row{st.i64(0), st.text(1), st.i64(2), st.i64(3), st.text(4), st.text(5)};
}

void add_unique(SqliteDb& db, const Container& c, const std::string& pk, int64_t seq, const json::object& doc) {
  for (auto& [k, val] : unique_entries(doc, c.unique_keys())) {
    // OR REPLACE: a row still held by an expired, not yet purged item is taken over (the check
    // before the write let it through); removal matches on the item, so the purge later
    // leaves the new owner's row alone.
    auto st = db.q("INSERT OR REPLACE INTO doc_unique(cid,pk,k,val,item) VALUES(?1,?2,?3,?4,?5)");
    st.bind(1, c.cid).bind(2, pk).bind(3, k).bind_blob(4, val).bind(5, seq);
    st.step();
  }
}

void remove_unique(SqliteDb& db, int64_t cid, const std::vector<UniqueKey>& keys, const std::string& pk, int64_t seq, const json::object& doc) {
  for (auto& [k, val] : unique_entries(doc, keys)) {
    auto st = db.q("DELETE FROM doc_unique WHERE cid=?1 AND pk=?2 AND k=?3 AND val=?4 AND item=?5");
    st.bind(1, cid).bind(2, pk).bind(3, k).bind_blob(4, val).bind(5, seq);
    st.step();
  }
}

// Makes sure doc_unique holds the rows of every item of `c`. A container created before unique
// keys were enforced (its policy was stored, not checked) has items without rows; the first
// write that checks its keys builds them, so enforcement starts with the data as it is. A
// value old items already share gets one row, the first item's: nothing is refused or changed,
// and once that item lets go of the value it is free again although the others still hold it.
void ensure_unique_rows(SqliteDb& db, const Container& c) {
  {
    auto st = db.q("SELECT 1 FROM doc_unique_built WHERE cid=?1");
    st.bind(1, c.cid);
    if (st.step()) return;
  }
  struct Old { int64_t seq; std::string pk, body; };
  std::vector<Old> rows;
  {
    auto st = db.q("SELECT seq, pk, body FROM doc_items WHERE cid=?1 AND expires>?2");
    st.bind(1, c.cid).bind(2, db.now);
    while (st.step()) rows.push_back({st.i64(0), st.text(1), st.text(2)});
  }
  for (auto& r : rows)
    for (auto& [k, val] : unique_entries(parse_body(r.body), c.unique_keys())) {
      auto st = db.q("INSERT OR IGNORE INTO doc_unique(cid,pk,k,val,item) VALUES(?1,?2,?3,?4,?5)");
      st.bind(1, c.cid).bind(2, r.pk).bind(3, k).bind_blob(4, val).bind(5, r.seq);
      st.step();
    }
  auto st = db.q("INSERT INTO doc_unique_built(cid) VALUES(?1)");
  st.bind(1, c.cid);
  st.step();
}

// The first unique key `doc` would share with another live item of its partition, as a
// conflict naming the key, the value and that item; nullopt when none. `self` is the item's
// own row (its current values are no conflict), -1 for a new item.
std::optional<DocError> unique_conflict(SqliteDb& db, const Container& c, const std::string& pk, int64_t self, const json::object& doc) {
  for (auto& [k, val] : unique_entries(doc, c.unique_keys())) {
    int64_t holder = -1;
    {
      auto st = db.q("SELECT item FROM doc_unique WHERE cid=?1 AND pk=?2 AND k=?3 AND val=?4");
      st.bind(1, c.cid).bind(2, pk).bind(3, k).bind_blob(4, val);
      if (st.step()) holder = st.i64(0);
    }
    if (holder < 0 || holder == self) continue;
    auto st = db.q("SELECT id, expires FROM doc_items WHERE seq=?1");
    st.bind(1, holder);
    if (!st.step() || st.i64(1) <= db.now) continue;  // expired: its values are free
    std::string other = st.text(0);
    std::string id = doc.contains("id") && doc.at("id").is_string() ? std::string(doc.at("id").as_string()) : std::string();
    std::string shown = val.size() > 200 ? val.substr(0, 200) + "..." : val;
    return DocError{DocErrc::conflict, "item \"" + id + "\" violates the unique key " + c.unique_keys()[static_cast<size_t>(k)].shown + " of " +
                                           describe(c.ref) + ": item \"" + other + "\" in partition " + pk + " already has the value " + shown +
                                           " (a missing value counts as null); use another value, or change or delete that item first"};
  }
  return std::nullopt;
}

void delete_row(SqliteDb& db, const Container& c, const Row& row, const std::string& pk) {
  unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  json::object old = parse_body(row.body, &mr);
  remove_unique(db, c.cid, c.unique_keys(), pk, row.seq, old);
  remove_index(db, c.cid, row.seq, old, c.policy());
  auto st = db.q("DELETE FROM doc_items WHERE seq=?1");
  st.bind(1, row.seq);
  st.step();
}

// All versions and deletes: with a changeFeedPolicy, every change of an item is also kept in
// doc_changes (its LSN, its kind, the item's previous LSN, its body for a create or replace,
// its partition key and id), so the change feed in that mode can give each version and each
// delete, which doc_items (one row per live item) cannot. `n` orders changes that share one
// LSN: only a partition's deletion in files written before each of its deletes took an LSN of
// its own; 0 now. Trimmed past the retention by trim_changes(). Containers without the policy
// write nothing here.
enum ChangeOp : int64_t { kChangeCreate = 1, kChangeReplace = 2, kChangeDelete = 3 };

bool keeps_changes(const api::ContainerSpec& spec) { return spec.change_feed_retention_minutes > 0; }

void record_change(SqliteDb& db, int64_t cid, int64_t lsn, int64_t n, ChangeOp op, int64_t prev_lsn, bool ttl,
                   const std::string& pk, const std::string& id, const std::string* body) {
  auto st = db.q("INSERT INTO doc_changes(cid, lsn, n, op, ts, prev, ttl, pk, id, body) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)");
  st.bind(1, cid).bind(2, lsn).bind(3, n).bind(4, static_cast<int64_t>(op)).bind(5, db.now).bind(6, prev_lsn).bind(7, int64_t{ttl});
  st.bind(8, pk).bind(9, id);
  if (body) st.bind_blob(10, *body);  // unbound: NULL (a delete)
  st.step();
}

std::string item_etag(const Container& c, int64_t lsn) {
  static constexpr char hex[] = "0123456789abcdef";
  auto h = [](uint64_t v, int digits) {
    std::string s;
    for (int i = digits - 1; i >= 0; --i) s.push_back(hex[(v >> (4 * i)) & 15]);
    return s;
  };
  uint64_t l = static_cast<uint64_t>(lsn);
  return "\"" + h(static_cast<uint64_t>(c.cid), 8) + "-0000-0000-" + h(l >> 48, 4) + "-" + h(l & 0xFFFFFFFFFFFFull, 12) + "\"";
}

int64_t expiry(const Container& c, const json::object& body, int64_t now) {
  if (!c.spec().default_ttl) return kNever;
  int64_t ttl = *c.spec().default_ttl;
  if (auto* t = body.if_contains("ttl"); t && !t->is_null()) {
    if (t->is_int64()) ttl = t->as_int64();
    else if (t->is_uint64()) ttl = static_cast<int64_t>(std::min<uint64_t>(t->as_uint64(), 1ull << 40));
  }
  if (ttl <= 0) return kNever;
  return now + std::min<int64_t>(ttl, int64_t{1} << 40) * 1000;
}

DocError wrong_item(const std::string& id, const api::ContainerRef& ref) {
  return DocError{DocErrc::not_found, "item \"" + id + "\" is not in " + describe(ref) +
                                          " under the given partition key (deleted, expired or never written); check the id and the partition key value"};
}

api::Item to_item(std::string text, std::string etag, int64_t lsn, bool created) {
  api::Item item;
  item.document = parse_body(text);
  item.etag = std::move(etag);
  item.lsn = lsn;
  item.created = created;
  return item;
}

}  // namespace

std::optional<std::string> encode_index_value(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return std::string(1, kTagNull);
    case json::kind::bool_: return std::string{kTagBool, static_cast<char>(v.as_bool() ? 1 : 0)};
    case json::kind::int64: return encode_double(static_cast<double>(v.as_int64()));
    case json::kind::uint64: return encode_double(static_cast<double>(v.as_uint64()));
    case json::kind::double_:
      if (!std::isfinite(v.as_double())) return std::nullopt;
      return encode_double(v.as_double());
    case json::kind::string: {
      std::string_view s = v.as_string();
      std::string out(1, kTagString);
      out.append(s.substr(0, kIndexedStringBytes));
      return out;
    }
    default: return std::nullopt;
  }
}

std::string encode_path(const std::vector<std::string>& components) {
  std::string out;
  for (auto& c : components) {
    out.push_back('/');
    for (char ch : c) {
      if (ch == '~') out += "~0";
      else if (ch == '/') out += "~1";
      else out.push_back(ch);
    }
  }
  return out;
}

std::optional<DocError> check_body(const json::object& body) {
  const json::value* id = body.if_contains("id");
  if (!id) return bad("the item has no \"id\"; every item needs a string id (the SDK generates one unless disableAutomaticIdGeneration is set)");
  if (!id->is_string()) return bad("the item's \"id\" is " + json::serialize(*id) + ", not a string; send the id as a JSON string");
  if (auto e = api::check_item_id(id->as_string()); !e.empty()) {
    std::string shown(std::string_view(id->as_string()).substr(0, 80));
    return bad("item id \"" + shown + (id->as_string().size() > 80 ? "...\"" : "\"") + " " + e);
  }
  // A null ttl is refused as the service refuses it (the SDK's ttl tests expect the 400).
  if (auto* t = body.if_contains("ttl")) {
    bool ok = (t->is_int64() && (t->as_int64() == -1 || t->as_int64() > 0)) || t->is_uint64();
    if (!ok) return bad("item \"" + std::string(id->as_string()) + "\": ttl " + json::serialize(*t) + " is invalid; use -1 (never expire), a whole number of seconds > 0, or leave it out");
  }
  // Depth and numbers without recursion: a hostile body may nest far deeper than the stack.
  std::vector<std::pair<const json::value*, int>> stack;
  for (auto& m : body) stack.emplace_back(&m.value(), 2);
  while (!stack.empty()) {
    auto [v, depth] = stack.back();
    stack.pop_back();
    if ((v->is_object() || v->is_array()) && depth > api::kMaxItemDepth)
      return bad("item \"" + std::string(id->as_string()) + "\" nests objects and arrays more than " + std::to_string(api::kMaxItemDepth) + " levels deep; flatten it");
    if (v->is_double() && !std::isfinite(v->as_double()))
      return bad("item \"" + std::string(id->as_string()) + "\" holds a number beyond the range of a double; store it as a string");
    if (v->is_object())
      for (auto& m : v->as_object()) stack.emplace_back(&m.value(), depth + 1);
    else if (v->is_array())
      for (auto& e : v->as_array()) stack.emplace_back(&e, depth + 1);
  }
  return std::nullopt;
}

// --- databases -------------------------------------------------------------------------------

namespace {
api::DatabaseInfo db_info(int64_t dbid, const std::string& name, const std::string& etag, int64_t ts) {
  std::string rid = db_rid(dbid);
  return api::DatabaseInfo{json::object{{"id", name}, {"_rid", rid}, {"_self", "dbs/" + rid + "/"}, {"_etag", etag}, {"_ts", ts}, {"_colls", "colls/"}, {"_users", "users/"}}};
}
DocError db_not_found(const std::string& id) {
  return DocError{DocErrc::not_found, "database \"" + id + "\" does not exist; create it first (POST /dbs)"};
}
}  // namespace

namespace {
// Offers: ids "d<dbid>" (a database's shared offer) and "c<cid>" (a container's); both row
// ids are AUTOINCREMENT, so an offer id is never reused for another owner.
json::object offer_content(const api::Throughput& t) {
  json::object c{{"offerThroughput", t.manual > 0 ? t.manual : t.autoscale_max / 10}, {"offerIsRUPerMinuteThroughputEnabled", false}};
  if (t.autoscale_max > 0) c["offerAutopilotSettings"] = json::object{{"maxThroughput", t.autoscale_max}};
  return c;
}

// `t` was checked by the caller (before its owner was written).
void insert_offer(SqliteDb& db, int64_t dbid, std::optional<int64_t> cid, const api::Throughput& t) {
  // Bound without copies: every value bound must outlive step().
  std::string id = cid ? "c" + std::to_string(*cid) : "d" + std::to_string(dbid);
  std::string etag = quoted_uuid();
  std::string content = json::serialize(offer_content(t));
  auto st = db.q("INSERT INTO doc_offers(id, dbid, cid, content, etag, ts) VALUES(?1,?2,?3,?4,?5,?6)");
  st.bind(1, id).bind(2, dbid).bind(4, content).bind(5, etag).bind(6, db.now / 1000);
  if (cid) st.bind(3, *cid);  // unbound: NULL, a database's shared offer
  st.step();
}
}  // namespace

DocResult<api::DatabaseInfo> create_database(SqliteDb& db, const std::string& id, const std::optional<api::Throughput>& throughput) {
  if (auto e = api::check_resource_id(id); !e.empty()) return bad("database id \"" + id + "\" " + e);
  if (throughput)
    if (auto e = throughput->check(); !e.empty()) return bad("database \"" + id + "\": " + e);
  {
    auto st = db.q("SELECT 1 FROM doc_databases WHERE name=?1");
    st.bind(1, id);
    if (st.step()) return DocError{DocErrc::conflict, "database \"" + id + "\" already exists; read it instead, or delete it first"};
  }
  std::string etag = quoted_uuid();
  int64_t ts = db.now / 1000;
  auto st = db.q("INSERT INTO doc_databases(name, etag, ts) VALUES(?1,?2,?3)");
  st.bind(1, id).bind(2, etag).bind(3, ts);
  st.step();
  int64_t dbid = sqlite3_last_insert_rowid(db.conn);
  if (throughput) insert_offer(db, dbid, std::nullopt, *throughput);
  return db_info(dbid, id, etag, ts);
}

DocResult<api::DatabaseInfo> read_database(SqliteDb& db, const std::string& id) {
  auto st = db.q("SELECT dbid, etag, ts FROM doc_databases WHERE name=?1");
  st.bind(1, id);
  if (!st.step()) return db_not_found(id);
  return db_info(st.i64(0), id, st.text(1), st.i64(2));
}

DocResult<std::vector<api::DatabaseInfo>> list_databases(SqliteDb& db) {
  std::vector<api::DatabaseInfo> out;
  auto st = db.q("SELECT dbid, name, etag, ts FROM doc_databases ORDER BY name");
  while (st.step()) out.push_back(db_info(st.i64(0), st.text(1), st.text(2), st.i64(3)));
  return out;
}

DocResult<void> delete_database(SqliteDb& db, const std::string& id) {
  std::vector<std::string> names;
  {
    auto st = db.q("SELECT 1 FROM doc_databases WHERE name=?1");
    st.bind(1, id);
    if (!st.step()) return db_not_found(id);
  }
  {
    auto st = db.q("SELECT name FROM doc_containers WHERE database=?1");
    st.bind(1, id);
    while (st.step()) names.push_back(st.text(0));
  }
  for (auto& n : names) {
    auto r = delete_container(db, {id, n});
    if (!r) return r;
  }
  access_tables::delete_database_users(db, id);
  auto offer = db.q("DELETE FROM doc_offers WHERE dbid=(SELECT dbid FROM doc_databases WHERE name=?1)");
  offer.bind(1, id);
  offer.step();
  auto st = db.q("DELETE FROM doc_databases WHERE name=?1");
  st.bind(1, id);
  st.step();
  return {};
}

// --- containers ------------------------------------------------------------------------------

DocResult<api::ContainerInfo> create_container(SqliteDb& db, const std::string& database, const api::ContainerSpec& spec_in) {
  // Re-validate through the JSON form, so a spec built in code obeys the REST rules.
  auto spec = api::ContainerSpec::from_json(spec_to_json(spec_in));
  if (!spec) return spec.error();
  if (auto e = check_unique_key_policy(spec.value().unique_key_policy, spec.value().id)) return *e;
  if (spec_in.throughput)
    if (auto e = spec_in.throughput->check(); !e.empty()) return bad("container \"" + spec_in.id + "\": " + e);
  int64_t dbid = 0;
  {
    auto st = db.q("SELECT dbid FROM doc_databases WHERE name=?1");
    st.bind(1, database);
    if (!st.step()) return db_not_found(database);
    dbid = st.i64(0);
  }
  api::ContainerRef ref{database, spec.value().id};
  {
    auto st = db.q("SELECT 1 FROM doc_containers WHERE database=?1 AND name=?2");
    st.bind(1, database).bind(2, ref.container);
    if (st.step()) return DocError{DocErrc::conflict, describe(ref) + " already exists; read it instead, or delete it first"};
  }
  Container c;
  c.dbid = dbid;
  c.ref = ref;
  c.etag = quoted_uuid();
  c.ts = db.now / 1000;
  auto parsed = std::make_shared<ContainerDef>();
  parsed->spec = std::move(spec.value());
  c.def = parsed;
  std::string def = json::serialize(spec_to_json(c.spec()));
  auto st = db.q("INSERT INTO doc_containers(dbid, database, name, definition, lsn, etag, ts) VALUES(?1,?2,?3,?4,0,?5,?6)");
  st.bind(1, dbid).bind(2, database).bind(3, ref.container).bind(4, def).bind(5, c.etag).bind(6, c.ts);
  st.step();
  c.cid = sqlite3_last_insert_rowid(db.conn);
  db.doc_catalog.clear();
  // Its own offer: the one asked for, else 400 RU/s unless the database shares its own.
  if (spec_in.throughput) {
    insert_offer(db, dbid, c.cid, *spec_in.throughput);
  } else {
    auto shared = db.q("SELECT 1 FROM doc_offers WHERE dbid=?1 AND cid IS NULL");
    shared.bind(1, dbid);
    if (!shared.step()) insert_offer(db, dbid, c.cid, api::Throughput{400, 0});
  }
  {
    auto built = db.q("INSERT OR REPLACE INTO doc_unique_built(cid) VALUES(?1)");  // empty: nothing to build
    built.bind(1, c.cid);
    built.step();
  }
  return api::ContainerInfo{c.spec(), container_resource(c)};
}

DocResult<api::ContainerInfo> read_container(SqliteDb& db, const api::ContainerRef& ref) {
  auto c = load_container(db, ref);
  if (!c) return container_not_found(ref);
  return api::ContainerInfo{c->spec(), container_resource(*c), c->items};
}

DocResult<std::vector<api::ContainerInfo>> list_containers(SqliteDb& db, const std::string& database) {
  {
    auto st = db.q("SELECT 1 FROM doc_databases WHERE name=?1");
    st.bind(1, database);
    if (!st.step()) return db_not_found(database);
  }
  std::vector<std::string> names;
  {
    auto st = db.q("SELECT name FROM doc_containers WHERE database=?1 ORDER BY name");
    st.bind(1, database);
    while (st.step()) names.push_back(st.text(0));
  }
  std::vector<api::ContainerInfo> out;
  for (auto& n : names)
    if (auto c = load_container(db, {database, n})) out.push_back({c->spec(), container_resource(*c)});
  return out;
}

DocResult<void> delete_container(SqliteDb& db, const api::ContainerRef& ref) {
  auto c = load_container(db, ref);
  if (!c) return container_not_found(ref);
  db.doc_catalog.clear();
  access_tables::delete_container_permissions(db, ref.database, ref.container);
  for (const char* sql : {"DELETE FROM doc_index WHERE cid=?1", "DELETE FROM doc_unique WHERE cid=?1", "DELETE FROM doc_unique_built WHERE cid=?1",
                          "DELETE FROM doc_changes WHERE cid=?1", "DELETE FROM doc_changes_trimmed WHERE cid=?1",
                          "DELETE FROM doc_items WHERE cid=?1", "DELETE FROM doc_offers WHERE cid=?1", "DELETE FROM doc_containers WHERE cid=?1"}) {
    auto st = db.q(sql);
    st.bind(1, c->cid);
    st.step();
  }
  return {};
}

// --- offers ----------------------------------------------------------------------------------

namespace {
DocError offer_not_found(const std::string& id) {
  return DocError{DocErrc::not_found, "offer \"" + id + "\" does not exist (its container or database was deleted, or it never had one); list them with GET /offers"};
}

// The offer rows with what their resources show of their owners.
std::vector<api::OfferInfo> load_offers(SqliteDb& db, const std::string* only) {
  std::vector<api::OfferInfo> out;
  auto st = db.q(
      "SELECT o.id, o.dbid, o.cid IS NOT NULL, o.content, o.etag, o.ts, c.database, c.name FROM doc_offers o "
      "LEFT JOIN doc_containers c ON c.cid=o.cid WHERE (?1=0 OR o.id=?2) ORDER BY o.id");
  st.bind(1, only ? 1 : 0);
  if (only) st.bind(2, *only);
  struct Row { std::string id; int64_t dbid; bool container; std::string content, etag; int64_t ts; api::ContainerRef ref; };
  std::vector<Row> rows;
  while (st.step())
    rows.push_back({st.text(0), st.i64(1), st.i64(2) != 0, st.text(3), st.text(4), st.i64(5), {st.text(6), st.text(7)}});
  for (auto& r : rows) {
    std::string owner_rid, owner_self;
    if (r.container) {
      auto c = load_container(db, r.ref);
      if (!c) continue;
      auto res = container_resource(*c);
      owner_rid = std::string(res.at("_rid").as_string());
      owner_self = std::string(res.at("_self").as_string());
    } else {
      owner_rid = db_rid(r.dbid);
      owner_self = "dbs/" + owner_rid + "/";
    }
    out.push_back({json::object{{"resource", owner_self}, {"offerType", "Invalid"}, {"offerResourceId", owner_rid},
                                {"offerVersion", "V2"}, {"content", parse_body(r.content)}, {"id", r.id}, {"_rid", r.id},
                                {"_self", "offers/" + r.id + "/"}, {"_etag", r.etag}, {"_ts", r.ts}}});
  }
  return out;
}
}  // namespace

DocResult<std::vector<api::OfferInfo>> list_offers(SqliteDb& db) { return load_offers(db, nullptr); }

DocResult<api::OfferInfo> read_offer(SqliteDb& db, const std::string& id) {
  auto found = load_offers(db, &id);
  if (found.empty()) return offer_not_found(id);
  return std::move(found[0]);
}

DocResult<api::OfferInfo> replace_offer(SqliteDb& db, const std::string& id, const api::Throughput& t, const std::optional<std::string>& if_match) {
  if (auto e = t.check(); !e.empty()) return bad("offer \"" + id + "\": " + e);
  std::string etag;
  {
    auto st = db.q("SELECT etag FROM doc_offers WHERE id=?1");
    st.bind(1, id);
    if (!st.step()) return offer_not_found(id);
    etag = st.text(0);
  }
  if (if_match && !if_match->empty() && *if_match != "*" && *if_match != etag)
    return DocError{DocErrc::precondition_failed, "offer \"" + id + "\" has changed since it was read (If-Match " + *if_match + ", current _etag " + etag + "); read it again and retry"};
  std::string content = json::serialize(offer_content(t)), new_etag = quoted_uuid();  // outlive step()
  auto st = db.q("UPDATE doc_offers SET content=?2, etag=?3, ts=?4 WHERE id=?1");
  st.bind(1, id).bind(2, content).bind(3, new_etag).bind(4, db.now / 1000);
  st.step();
  return read_offer(db, id);
}

namespace {
// "a, b" for messages, "none" when empty.
std::string listed(const std::vector<std::string>& parts) {
  std::string out;
  for (auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out.empty() ? "none" : out;
}
std::string shown_keys(const std::vector<UniqueKey>& keys) {
  std::vector<std::string> shown;
  for (auto& k : keys) shown.push_back(k.shown);
  return listed(shown);
}
}  // namespace

DocResult<api::ContainerInfo> replace_container(SqliteDb& db, const api::ContainerRef& ref, const api::ContainerSpec& spec_in,
                                                bool has_partition_key, bool has_unique_key_policy,
                                                const std::optional<std::string>& if_match) {
  auto spec = api::ContainerSpec::from_json(spec_to_json(spec_in));
  if (!spec) return spec.error();
  if (has_unique_key_policy)
    if (auto e = check_unique_key_policy(spec.value().unique_key_policy, spec.value().id)) return *e;
  auto c = load_container(db, ref);
  if (!c) return container_not_found(ref);
  if (if_match && !if_match->empty() && *if_match != "*" && *if_match != c->etag)
    return DocError{DocErrc::precondition_failed, describe(ref) + " has changed since it was read (If-Match " + *if_match + ", current _etag " + c->etag +
                                                      "); read it again and retry with the new _etag"};
  api::ContainerSpec want = std::move(spec.value());
  const api::ContainerSpec& cur = c->spec();
  if (want.id != ref.container)
    return bad("the body's id \"" + want.id + "\" differs from the container in the request (" + describe(ref) +
               "); a container cannot be renamed: create one under the new name and copy the items");
  // Unsure how the service treats a replace body without partitionKey or uniqueKeyPolicy; an
  // absent field keeps the container's (neither can change, so nothing else would be right).
  if (!has_partition_key) {
    want.partition_key_paths = cur.partition_key_paths;
    want.partition_key_kind = cur.partition_key_kind;
  } else if (want.partition_key_paths != cur.partition_key_paths || want.partition_key_kind != cur.partition_key_kind) {
    return bad("the partition key of " + describe(ref) + " is " + listed(cur.partition_key_paths) + " and cannot change (the body has " + listed(want.partition_key_paths) +
               "); create a new container with the new key and copy the items");
  }
  want.partition_key_version = cur.partition_key_version;
  if (!has_unique_key_policy) {
    want.unique_key_policy = cur.unique_key_policy;
  } else if (auto a = shown_keys(unique_keys_of(want.unique_key_policy)), b = shown_keys(c->unique_keys()); a != b) {
    return bad("the unique keys of " + describe(ref) + " are " + b + " and cannot change (the body has " + a +
               "); create a new container with the new keys and copy the items");
  }
  {
    // Unsure whether the service lets a replace without vectorEmbeddingPolicy keep it; both
    // it and the vector indexes are fixed at creation there, so an absent one keeps it here.
    if (want.vector_embedding_policy.empty()) want.vector_embedding_policy = cur.vector_embedding_policy;
    // The service's SDK tests replace the full-text policy, so a replace may change it; one
    // without it keeps it (a body that keeps fullTextIndexes must repeat it: they are checked
    // against the policy of the same body).
    if (want.full_text_policy.empty()) want.full_text_policy = cur.full_text_policy;
    const json::value* a = want.indexing_policy.if_contains("vectorIndexes");
    const json::value* b = cur.indexing_policy.if_contains("vectorIndexes");
    bool same_indexes = (a ? *a : json::value()) == (b ? *b : json::value());
    if (want.vector_embedding_policy != cur.vector_embedding_policy || !same_indexes)
      return bad("the vector embedding policy and the vector indexes of " + describe(ref) +
                 " cannot change; create a new container with the new ones and copy the items");
  }
  if (keeps_changes(want) && !keeps_changes(cur)) {
    // Changes before now were not kept: a continuation from before cannot be served.
    auto st = db.q("INSERT INTO doc_changes_trimmed(cid, lsn) VALUES(?1,?2) ON CONFLICT(cid) DO UPDATE SET lsn=max(lsn, excluded.lsn)");
    st.bind(1, c->cid).bind(2, c->lsn);
    st.step();
  }
  bool ttl_changed = want.default_ttl != cur.default_ttl;
  bool index_changed = want.indexing_policy != cur.indexing_policy;

  Container next = *c;
  next.etag = quoted_uuid();
  next.ts = db.now / 1000;
  {
    std::string def = json::serialize(spec_to_json(want));  // bound without a copy: must outlive the step
    auto st = db.q("UPDATE doc_containers SET definition=?2, etag=?3, ts=?4 WHERE cid=?1");
    st.bind(1, c->cid).bind(2, def).bind(3, next.etag).bind(4, next.ts);
    st.step();
  }
  db.doc_catalog.clear();  // point reads and writes must see the new definition at once
  next.def = definition(db, c->cid, next.etag, ref);
  if (index_changed) {
    auto st = db.q("DELETE FROM doc_index WHERE cid=?1");
    st.bind(1, c->cid);
    st.step();
  }
  if (ttl_changed || index_changed) {
    // Every item again, in slices along doc_items_lsn (an item's LSN is unique in its
    // container and this loop changes none; slicing by seq sorted the rest of the container
    // for every slice), each read before it is written: expiries from each item's last write
    // and the new defaultTtl (an item already expired stays expired), index rows under the
    // new policy.
    int64_t after = -1;
    for (;;) {
      struct Slice { int64_t seq, lsn, modified, expires; std::string body; };
      std::vector<Slice> rows;
      {
        auto st = db.q("SELECT seq, lsn, modified, expires, body FROM doc_items WHERE cid=?1 AND lsn>?2 ORDER BY lsn LIMIT 512");
        st.bind(1, c->cid).bind(2, after);
        while (st.step()) rows.push_back({st.i64(0), st.i64(1), st.i64(2), st.i64(3), st.text(4)});
      }
      if (rows.empty()) break;
      for (auto& r : rows) {
        json::object doc = parse_body(r.body);
        if (ttl_changed && r.expires > db.now) {
          int64_t e = expiry(next, doc, r.modified);
          if (e != r.expires) {
            auto st = db.q("UPDATE doc_items SET expires=?2 WHERE seq=?1");
            st.bind(1, r.seq).bind(2, e);
            st.step();
          }
        }
        if (index_changed) add_index(db, c->cid, r.seq, doc, next.policy());
      }
      after = rows.back().lsn;
    }
  }
  return api::ContainerInfo{next.spec(), container_resource(next)};
}

// --- items -----------------------------------------------------------------------------------

namespace {
DocResult<api::Item> write_item_once(SqliteDb& db, WriteMode mode, const api::ContainerRef& ref,
                                     const std::optional<api::PartitionKey>& given_pk,
                                     const json::object& body_in, const std::string* replace_id,
                                     const std::optional<std::string>& if_match) {
  // 1. Everything that can fail, before the first write.
  if (auto e = check_body(body_in)) return *e;
  std::string id(body_in.at("id").as_string());
  if (replace_id && *replace_id != id)
    return bad("the body's id \"" + id + "\" differs from the id in the request (\"" + *replace_id + "\"); an item's id cannot change: create a new item instead");
  SqliteDb::DocCatalogEntry* entry = nullptr;
  auto c = load_write_container(db, ref, &entry);
  if (!c) return container_not_found(ref);
  auto body_pk = pk_of_body(body_in, *c);
  if (auto* e = std::get_if<DocError>(&body_pk)) return *e;
  auto pk = canonical_pk(std::get<api::PartitionKey>(body_pk), *c);
  if (auto* e = std::get_if<DocError>(&pk)) return *e;
  const std::string& pk_text = std::get<std::string>(pk);
  if (given_pk) {
    auto given = canonical_pk(*given_pk, *c);
    if (auto* e = std::get_if<DocError>(&given)) return *e;
    if (std::get<std::string>(given) != pk_text)
      return bad("the partition key in the request (" + std::get<std::string>(given) + ") differs from the item's value (" + pk_text + ", from " +
                 (c->spec().partition_key_paths.empty() ? std::string("no path") : c->spec().partition_key_paths[0]) + "); send the item's own partition key value");
  }
  auto existing = find_row(db, c->cid, pk_text, id);
  bool live = existing && existing->expires > db.now;
  if (mode == WriteMode::create && live)
    return DocError{DocErrc::conflict, "item \"" + id + "\" already exists in partition " + pk_text + " of " + describe(ref) + "; replace or upsert it, or use another id"};
  if (mode == WriteMode::replace && !live) return wrong_item(id, ref);
  if (if_match && !if_match->empty() && *if_match != "*" && (!live || existing->etag != *if_match))
    return DocError{DocErrc::precondition_failed, "item \"" + id + "\" of " + describe(ref) + " has changed since it was read (If-Match " + *if_match + ", current _etag " +
                                                      (live ? existing->etag : std::string("none")) + "); read it again and retry with the new _etag"};
  // An item past its expiry that the sweep has not purged yet is gone; writing over its row
  // would leave the all-versions feed without its expiry, so that delete takes the LSN before
  // this write's.
  bool expiry_first = existing && !live && keeps_changes(c->spec());
  int64_t lsn = c->lsn + 1 + (expiry_first ? 1 : 0);
  std::string rid = live ? existing->rid : rid_of((c->def->raw.empty() ? container_raw(*c) : c->def->raw) + be64(static_cast<uint64_t>(lsn)));
  std::string etag = item_etag(*c, lsn);
  json::object doc(body_in.storage());  // the body's arena when the service parsed it into one
  doc.reserve(body_in.size() + 6);
  for (auto& m : body_in) {
    auto k = m.key();
    if (k == "_rid" || k == "_self" || k == "_etag" || k == "_ts" || k == "_lsn" || k == "_attachments") continue;
    doc.emplace(k, m.value());
  }
  doc["_rid"] = rid;
  doc["_self"] = (c->def->docs_prefix.empty() ? "dbs/" + db_rid(c->dbid) + "/colls/" + container_rid(*c) + "/docs/" : c->def->docs_prefix) + rid + "/";
  doc["_etag"] = etag;
  doc["_attachments"] = "attachments/";
  doc["_ts"] = db.now / 1000;
  std::string text = json::serialize(doc);
  if (text.size() > api::kMaxItemBytes)
    return DocError{DocErrc::too_large, std::string(api::kTooLargeLead) + "item \"" + id + "\" is " + std::to_string(text.size()) + " bytes with its system properties, over the 2 MB (2097152 bytes) limit; split it or store large payloads elsewhere"};
  int64_t expires = expiry(*c, doc, db.now);
  if (!c->unique_keys().empty()) {
    // Derived rows only (a container of an older version); harmless if this write then fails.
    ensure_unique_rows(db, *c);
    if (auto e = unique_conflict(db, *c, pk_text, existing ? existing->seq : -1, doc)) return *e;
  }

  // 2. The writes.
  if (expiry_first) {
    bump_lsn(db, *c, entry);
    record_change(db, c->cid, c->lsn, 0, kChangeDelete, existing->lsn, true, pk_text, id, nullptr);
  }
  bump_lsn(db, *c, entry, existing ? 0 : 1);
  if (keeps_changes(c->spec()))
    record_change(db, c->cid, lsn, 0, live ? kChangeReplace : kChangeCreate, live ? existing->lsn : 0, false, pk_text, id, &text);
  unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  if (existing) {
    json::object old = parse_body(existing->body, &mr);
    remove_unique(db, c->cid, c->unique_keys(), pk_text, existing->seq, old);
    auto st = db.q("UPDATE doc_items SET rid=?2, lsn=?3, modified=?4, expires=?5, etag=?6, body=?7 WHERE seq=?1");
    st.bind(1, existing->seq).bind(2, rid).bind(3, lsn).bind(4, db.now).bind(5, expires).bind(6, etag).bind_blob(7, text);
    st.step();
    update_index(db, c->cid, existing->seq, old, doc, c->policy());
    add_unique(db, *c, pk_text, existing->seq, doc);
  } else {
    auto st = db.q("INSERT INTO doc_items(cid, pk, id, rid, lsn, modified, expires, etag, body) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)");
    st.bind(1, c->cid).bind(2, pk_text).bind(3, id).bind(4, rid).bind(5, lsn).bind(6, db.now).bind(7, expires).bind(8, etag).bind_blob(9, text);
    st.step();
    int64_t seq = sqlite3_last_insert_rowid(db.conn);
    add_index(db, c->cid, seq, doc, c->policy());
    add_unique(db, *c, pk_text, seq, doc);
  }
  db.notices.emplace_back(api::DocumentChanged{ref, lsn});
  // Moved with its storage when that outlives this call (the heap, or a shared arena such as
  // the service's parse buffer): moving into an object on other storage deep-copies it.
  const json::storage_ptr& sp = doc.storage();
  if (!sp.is_shared() && sp.get() != json::storage_ptr().get()) doc = json::object(doc, json::storage_ptr());
  return api::Item{std::move(doc), std::move(text), std::move(etag), lsn, !live, c->def->rid};
}
}  // namespace

DocResult<api::Item> write_item(SqliteDb& db, WriteMode mode, const api::ContainerRef& ref,
                                const std::optional<api::PartitionKey>& given_pk,
                                const json::object& body_in, const std::string* replace_id,
                                const std::optional<std::string>& if_match) {
  try {
    return write_item_once(db, mode, ref, given_pk, body_in, replace_id, if_match);
  } catch (const StaleLsn&) {
    // bump_lsn forgot the stale LSN: this time the container's row is read.
    return rerun_from_row([&] { return write_item_once(db, mode, ref, given_pk, body_in, replace_id, if_match); });
  }
}

DocResult<api::Item> read_item(SqliteDb& db, const api::ContainerRef& ref, const std::string& id, const api::PartitionKey& pk, api::ItemForm form) {
  auto c = load_point_container(db, ref);
  if (!c) return container_not_found(ref);
  auto pk_text = canonical_pk(pk, *c);
  if (auto* e = std::get_if<DocError>(&pk_text)) return *e;
  auto st = db.q("SELECT body, etag, lsn FROM doc_items WHERE cid=?1 AND pk=?2 AND id=?3 AND expires>?4");
  st.bind(1, c->cid()).bind(2, std::get<std::string>(pk_text)).bind(3, id).bind(4, db.now);
  if (!st.step()) return wrong_item(id, ref);
  if (form == api::ItemForm::text) {
    api::Item item;
    item.text = st.text(0);
    item.etag = st.text(1);
    item.lsn = st.i64(2);
    item.container_rid = c->def->rid;
    return item;
  }
  auto item = to_item(st.text(0), st.text(1), st.i64(2), false);
  item.container_rid = c->def->rid;
  return item;
}

namespace {
DocResult<int64_t> delete_item_once(SqliteDb& db, const api::ContainerRef& ref, const std::string& id, const api::PartitionKey& pk,
                                    const std::optional<std::string>& if_match) {
  SqliteDb::DocCatalogEntry* entry = nullptr;
  auto c = load_write_container(db, ref, &entry);
  if (!c) return container_not_found(ref);
  auto pk_text = canonical_pk(pk, *c);
  if (auto* e = std::get_if<DocError>(&pk_text)) return *e;
  auto row = find_row(db, c->cid, std::get<std::string>(pk_text), id);
  if (!row || row->expires <= db.now) return wrong_item(id, ref);
  if (if_match && !if_match->empty() && *if_match != "*" && *if_match != row->etag)
    return DocError{DocErrc::precondition_failed, "item \"" + id + "\" of " + describe(ref) + " has changed since it was read (If-Match " + *if_match + ", current _etag " + row->etag +
                                                      "); read it again and retry with the new _etag"};
  bump_lsn(db, *c, entry, -1);
  if (keeps_changes(c->spec())) record_change(db, c->cid, c->lsn, 0, kChangeDelete, row->lsn, false, std::get<std::string>(pk_text), id, nullptr);
  delete_row(db, *c, *row, std::get<std::string>(pk_text));
  db.notices.emplace_back(api::DocumentChanged{ref, c->lsn});
  return c->lsn;
}
}  // namespace

namespace {
DocResult<int64_t> delete_partition_once(SqliteDb& db, const api::ContainerRef& ref, const api::PartitionKey& pk) {
  SqliteDb::DocCatalogEntry* entry = nullptr;
  auto c = load_write_container(db, ref, &entry);
  if (!c) return container_not_found(ref);
  auto pk_text = canonical_pk(pk, *c);
  if (auto* e = std::get_if<DocError>(&pk_text)) return *e;
  const std::string& key = std::get<std::string>(pk_text);
  int64_t rows = 0;
  {
    auto st = db.q("SELECT count(*) FROM doc_items WHERE cid=?1 AND pk=?2");
    st.bind(1, c->cid).bind(2, key);
    if (st.step()) rows = st.i64(0);
  }
  if (rows == 0) return int64_t{0};
  // The container's item count drops by what was there, expired rows included. The change
  // feed of latest versions shows no deletes, so one LSN is enough for it; a container that
  // keeps all versions gives each item's delete an LSN of its own (below), so a page of that
  // feed, which never splits one LSN, holds at most max-item-count of them however large the
  // partition was. All of them commit together either way.
  bump_lsn(db, *c, entry, -rows);
  const bool keeps = keeps_changes(c->spec());
  // In slices along doc_items_key, each read before it is deleted (a partition may be large).
  int64_t live = 0;
  bool first = true;
  for (;;) {
    std::vector<Row> slice;
    {
      auto st = db.q("SELECT seq, expires, body, lsn, id FROM doc_items WHERE cid=?1 AND pk=?2 ORDER BY id LIMIT 512");
      st.bind(1, c->cid).bind(2, key);
      while (st.step()) {
        Row r;
        r.seq = st.i64(0);
        r.expires = st.i64(1);
        r.body = st.text(2);
        r.lsn = st.i64(3);
        r.id = st.text(4);
        slice.push_back(std::move(r));
      }
    }
    if (slice.empty()) break;
    for (auto& row : slice) {
      // All versions: one delete per item at its own LSN; an item already past its expiry
      // (not yet purged, so the sweep would never report it) is a TTL delete.
      if (keeps) {
        if (!first) bump_lsn(db, *c, entry);
        first = false;
        record_change(db, c->cid, c->lsn, 0, kChangeDelete, row.lsn, row.expires <= db.now, key, row.id, nullptr);
      }
      live += row.expires > db.now;
      delete_row(db, *c, row, key);
    }
  }
  db.notices.emplace_back(api::DocumentChanged{ref, c->lsn});
  return live;
}
}  // namespace

DocResult<int64_t> delete_partition(SqliteDb& db, const api::ContainerRef& ref, const api::PartitionKey& pk) {
  try {
    return delete_partition_once(db, ref, pk);
  } catch (const StaleLsn&) {
    return rerun_from_row([&] { return delete_partition_once(db, ref, pk); });
  }
}

DocResult<int64_t> delete_item(SqliteDb& db, const api::ContainerRef& ref, const std::string& id, const api::PartitionKey& pk,
                               const std::optional<std::string>& if_match) {
  try {
    return delete_item_once(db, ref, id, pk, if_match);
  } catch (const StaleLsn&) {
    return rerun_from_row([&] { return delete_item_once(db, ref, id, pk, if_match); });  // now from the row
  }
}

// --- partial update (PATCH) ------------------------------------------------------------------

namespace {

const char* op_name(api::PatchOperation::Op op) {
  switch (op) {
    case api::PatchOperation::Op::add: return "add";
    case api::PatchOperation::Op::set: return "set";
    case api::PatchOperation::Op::replace: return "replace";
    case api::PatchOperation::Op::remove: return "remove";
    case api::PatchOperation::Op::incr: return "incr";
    case api::PatchOperation::Op::move: return "move";
  }
  return "?";
}

bool is_system_property(std::string_view k) {
  return k == "_rid" || k == "_self" || k == "_etag" || k == "_ts" || k == "_lsn" || k == "_attachments";
}

// A JSON pointer ("/a/b/0", `~0` = '~', `~1` = '/') as property names; an error text when it
// is not one. The root ("" or "/") cannot be patched: an item is replaced with PUT. Unsure:
// RFC 6901 allows empty property names ("/a//b"); we refuse them as the likelier typo.
std::variant<std::vector<std::string>, std::string> parse_pointer(std::string_view p) {
  if (p.empty() || p[0] != '/') return std::string("does not start with '/'; paths look like \"/address/city\" or \"/tags/0\"");
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 1; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '/') {
      if (cur.empty()) return std::string("has an empty property name; name each level, e.g. \"/address/city\"");
      out.push_back(std::move(cur));
      cur.clear();
    } else if (p[i] == '~') {
      if (i + 1 < p.size() && (p[i + 1] == '0' || p[i + 1] == '1')) {
        cur.push_back(p[i + 1] == '0' ? '~' : '/');
        ++i;
      } else {
        return std::string("has a '~' that is not ~0 or ~1; write '~' as ~0 and '/' as ~1 in property names");
      }
    } else {
      cur.push_back(p[i]);
    }
  }
  return out;
}

// An array index segment: decimal digits without a leading zero; nullopt otherwise.
std::optional<size_t> array_index(const std::string& s) {
  if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  size_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + static_cast<size_t>(ch - '0');
  }
  return v;
}

// The object or array that holds the last segment of `segs`; an error text when a level on
// the way is missing or is not a container (the service refuses such paths; it does not
// create intermediate objects).
std::variant<json::value*, std::string> parent_of(json::value& root, const std::vector<std::string>& segs) {
  json::value* cur = &root;
  for (size_t i = 0; i + 1 < segs.size(); ++i) {
    if (auto* o = cur->if_object()) {
      cur = o->if_contains(segs[i]);
      if (!cur) return "\"" + segs[i] + "\" (level " + std::to_string(i + 1) + ") does not exist; create the parent first";
    } else if (auto* a = cur->if_array()) {
      auto idx = array_index(segs[i]);
      if (!idx || *idx >= a->size()) return "\"" + segs[i] + "\" (level " + std::to_string(i + 1) + ") is not an index of the array there (length " + std::to_string(a->size()) + ")";
      cur = &(*a)[*idx];
    } else {
      return "level " + std::to_string(i + 1) + " holds a " + std::string(cur->is_string() ? "string" : cur->is_bool() ? "boolean" : cur->is_null() ? "null" : "number") +
             ", not an object or array";
    }
  }
  if (!cur->is_object() && !cur->is_array())
    return std::string("its parent holds a scalar, not an object or array");
  return cur;
}

// a + b for JSON numbers: integers stay integers unless the sum overflows int64 (then, as for
// any double operand, a double). Unsure: the service's exact integer/double rules.
std::optional<json::value> add_numbers(const json::value& a, const json::value& b) {
  if (a.is_int64() && b.is_int64()) {
    int64_t r = 0;
    if (!__builtin_add_overflow(a.as_int64(), b.as_int64(), &r)) return json::value(r);
  }
  auto d = [](const json::value& v) {
    return v.is_int64() ? static_cast<double>(v.as_int64()) : v.is_uint64() ? static_cast<double>(v.as_uint64()) : v.as_double();
  };
  double r = d(a) + d(b);
  if (!std::isfinite(r)) return std::nullopt;
  return json::value(r);
}

// Applies one operation's change at `segs` (never `move`, which is remove + add). An error
// text when the operation does not hold there.
std::optional<std::string> apply_at(json::value& root, api::PatchOperation::Op op, const std::vector<std::string>& segs, const json::value& value,
                                    json::value* removed) {
  using Op = api::PatchOperation::Op;
  auto parent = parent_of(root, segs);
  if (auto* e = std::get_if<std::string>(&parent)) return "the path's " + *e;
  json::value* p = std::get<json::value*>(parent);
  const std::string& last = segs.back();
  if (auto* o = p->if_object()) {
    json::value* cur = o->if_contains(last);
    switch (op) {
      case Op::add:
      case Op::set:
        (*o)[last] = value;
        return std::nullopt;
      case Op::replace:
        if (!cur) return std::string("the path does not exist; use set or add to create it");
        *cur = value;
        return std::nullopt;
      case Op::remove:
        if (!cur) return std::string("the path does not exist, so there is nothing to remove");
        if (removed) *removed = std::move(*cur);
        o->erase(last);
        return std::nullopt;
      case Op::incr: {
        if (!cur) {
          (*o)[last] = value;  // the service creates a missing field with the increment
          return std::nullopt;
        }
        if (!cur->is_number()) return "the value there is " + json::serialize(*cur).substr(0, 80) + ", not a number; incr adds to numbers only";
        auto sum = add_numbers(*cur, value);
        if (!sum) return std::string("the sum is beyond the range of a double");
        *cur = std::move(*sum);
        return std::nullopt;
      }
      case Op::move: break;
    }
    return std::string("unexpected operation");
  }
  auto& a = p->as_array();
  std::optional<size_t> idx = last == "-" ? std::optional<size_t>(a.size()) : array_index(last);
  if (!idx) return "\"" + last + "\" is not an array index; use 0.." + std::to_string(a.size()) + " or \"-\" (the end)";
  std::string range = " (the array has " + std::to_string(a.size()) + " element(s))";
  switch (op) {
    case Op::add:
      if (*idx > a.size()) return "index " + last + " is beyond the end of the array" + range + "; add at most at its length, or at \"-\"";
      a.insert(a.begin() + static_cast<std::ptrdiff_t>(*idx), value);
      return std::nullopt;
    case Op::set:
      // Unsure: set at the length (or "-") appends, as add does; the docs only say that set
      // overwrites an existing index.
      if (*idx > a.size()) return "index " + last + " is beyond the end of the array" + range + "; set an existing index or append at \"-\"";
      if (*idx == a.size()) a.push_back(value);
      else a[*idx] = value;
      return std::nullopt;
    case Op::replace:
      if (*idx >= a.size()) return "index " + last + " does not exist" + range + "; replace an existing element, or use add";
      a[*idx] = value;
      return std::nullopt;
    case Op::remove:
      if (*idx >= a.size()) return "index " + last + " does not exist" + range + ", so there is nothing to remove";
      if (removed) *removed = std::move(a[*idx]);
      a.erase(a.begin() + static_cast<std::ptrdiff_t>(*idx));
      return std::nullopt;
    case Op::incr:
      if (*idx >= a.size()) return "index " + last + " does not exist" + range + "; incr needs an existing element in an array";
      if (!a[*idx].is_number()) return "the value there is " + json::serialize(a[*idx]).substr(0, 80) + ", not a number; incr adds to numbers only";
      if (auto sum = add_numbers(a[*idx], value)) {
        a[*idx] = std::move(*sum);
        return std::nullopt;
      }
      return std::string("the sum is beyond the range of a double");
    case Op::move: break;
  }
  return std::string("unexpected operation");
}

}  // namespace

std::optional<DocError> apply_patch(json::object& doc, const std::vector<api::PatchOperation>& ops, const std::string& item) {
  using Op = api::PatchOperation::Op;
  if (ops.empty()) return bad("the patch of item \"" + item + "\" has no operations; send 1 to 10 operations");
  if (ops.size() > api::kMaxPatchOperations)
    return bad("the patch of item \"" + item + "\" has " + std::to_string(ops.size()) + " operations; a patch holds at most 10, so split it into several patches");
  json::value root(std::move(doc));
  std::optional<DocError> failure;
  for (size_t i = 0; i < ops.size() && !failure; ++i) {
    const auto& o = ops[i];
    std::string what = "patch operation " + std::to_string(i) + " (" + op_name(o.op) + " \"" + o.path.substr(0, 200) + "\") on item \"" + item + "\": ";
    auto segs = parse_pointer(o.path);
    if (auto* e = std::get_if<std::string>(&segs)) {
      failure = bad(what + "the path " + *e);
      break;
    }
    const auto& path = std::get<std::vector<std::string>>(segs);
    // The id and the store's own properties are not the client's to patch (a changed
    // partition key is refused after all operations, where the new value is known). Unsure:
    // the service's answer to a patch of /id or /_ts is undocumented; a replace ignores sent
    // system properties, so refusing says plainly that such a patch would do nothing.
    auto protected_path = [&](const std::vector<std::string>& p) -> std::optional<DocError> {
      if (p.size() == 1 && p[0] == "id") return bad(what + "an item's id cannot change; create a new item instead");
      if (is_system_property(p[0])) return bad(what + p[0] + " is a system property the store maintains; patch your own properties");
      return std::nullopt;
    };
    if ((failure = protected_path(path))) break;
    if (o.op == Op::incr && !o.value.is_number()) {
      failure = bad(what + "the value " + json::serialize(o.value).substr(0, 80) + " is not a number; incr takes a number (negative to decrement)");
      break;
    }
    if (o.op == Op::move) {
      auto from = parse_pointer(o.from);
      if (auto* e = std::get_if<std::string>(&from)) {
        failure = bad(what + "\"from\" \"" + o.from.substr(0, 200) + "\" " + *e);
        break;
      }
      const auto& fp = std::get<std::vector<std::string>>(from);
      if ((failure = protected_path(fp))) break;
      if (fp == path) continue;  // moving a value onto itself changes nothing (RFC 6902)
      if (fp.size() < path.size() && std::equal(fp.begin(), fp.end(), path.begin())) {
        failure = bad(what + "\"from\" \"" + o.from + "\" contains the target path; a value cannot move into itself");
        break;
      }
      json::value moved;
      if (auto e = apply_at(root, Op::remove, fp, json::value(), &moved)) {
        failure = bad(what + "\"from\" \"" + o.from.substr(0, 200) + "\": " + *e);
        break;
      }
      if (auto e = apply_at(root, Op::add, path, moved, nullptr)) failure = bad(what + *e);
      continue;
    }
    if (auto e = apply_at(root, o.op, path, o.value, nullptr)) failure = bad(what + *e);
  }
  doc = std::move(root.as_object());
  return failure;
}

DocResult<api::Item> patch_item(SqliteDb& db, const api::ContainerRef& ref, const std::string& id, const api::PartitionKey& pk,
                                const api::PatchSpec& patch, const std::optional<std::string>& if_match) {
  // 1. Everything that can fail, before the first write (write_item below checks the rest
  //    before it writes).
  if (patch.operations.empty() || patch.operations.size() > api::kMaxPatchOperations) {
    json::object none;
    return *apply_patch(none, patch.operations, id);
  }
  SqliteDb::DocCatalogEntry* entry = nullptr;
  auto c = load_write_container(db, ref, &entry);
  if (!c) return container_not_found(ref);
  auto pk_text = canonical_pk(pk, *c);
  if (auto* e = std::get_if<DocError>(&pk_text)) return *e;
  auto row = find_row(db, c->cid, std::get<std::string>(pk_text), id);
  if (!row || row->expires <= db.now) return wrong_item(id, ref);
  if (if_match && !if_match->empty() && *if_match != "*" && *if_match != row->etag)
    return DocError{DocErrc::precondition_failed, "item \"" + id + "\" of " + describe(ref) + " has changed since it was read (If-Match " + *if_match + ", current _etag " + row->etag +
                                                      "); read it again and retry with the new _etag"};
  json::object doc = parse_body(row->body);
  if (patch.condition) {
    bool given = false;
    auto rows = patch.condition->run([&]() -> const json::object* {
      if (given) return nullptr;
      given = true;
      return &doc;
    });
    if (!rows) return bad("the patch condition \"" + patch.condition_text.substr(0, 200) + "\" failed: " + rows.error().message);
    if (rows.value().empty())
      return DocError{DocErrc::precondition_failed, "the patch condition \"" + patch.condition_text.substr(0, 200) + "\" does not hold for item \"" + id + "\" of " + describe(ref) +
                                                        "; nothing was changed (read the item to see its current values)"};
  }
  if (auto e = apply_patch(doc, patch.operations, id)) return *e;
  auto new_pk = pk_of_body(doc, *c);
  if (auto* e = std::get_if<DocError>(&new_pk)) return *e;
  auto new_pk_text = canonical_pk(std::get<api::PartitionKey>(new_pk), *c);
  if (auto* e = std::get_if<DocError>(&new_pk_text)) return *e;
  if (std::get<std::string>(new_pk_text) != std::get<std::string>(pk_text))
    return bad("the patch of item \"" + id + "\" changes its partition key (" + std::get<std::string>(pk_text) + " to " + std::get<std::string>(new_pk_text) +
               "); an item's partition key cannot change: create the item anew in the other partition and delete this one");
  // 2. The write, as a replace conditioned on the version just read.
  return write_item(db, WriteMode::replace, ref, pk, doc, &id, row->etag);
}

// --- transactional batch and bulk ------------------------------------------------------------

namespace {

const char* batch_op_name(api::BatchOperation::Type t) {
  switch (t) {
    case api::BatchOperation::Type::create: return "Create";
    case api::BatchOperation::Type::upsert: return "Upsert";
    case api::BatchOperation::Type::read: return "Read";
    case api::BatchOperation::Type::replace: return "Replace";
    case api::BatchOperation::Type::remove: return "Delete";
    case api::BatchOperation::Type::patch: return "Patch";
  }
  return "?";
}

api::BatchOperationResult op_failed(DocError e) {
  api::BatchOperationResult r;
  r.status = api::doc_errc_status(e.code);
  r.error = std::move(e);
  return r;
}

api::BatchOperationResult op_done(int status, std::optional<api::Item> item) {
  api::BatchOperationResult r;
  r.status = status;
  r.item = std::move(item);
  // A batch answers with the parsed items: keeping each one's text too would hold every item
  // of up to 100 operations twice.
  if (r.item) r.item->text = std::string();
  return r;
}

// One operation of a batch or bulk, with the partition key it runs under (the batch's, or its
// own for bulk). Each is atomic on its own: it checks before it writes.
api::BatchOperationResult run_batch_op(SqliteDb& db, const api::ContainerRef& ref, const api::BatchOperation& op, const std::optional<api::PartitionKey>& pk,
                                       size_t index) {
  using Type = api::BatchOperation::Type;
  auto needs_pk = [&]() -> std::optional<DocError> {
    if (pk) return std::nullopt;
    return bad("operation " + std::to_string(index) + " (" + batch_op_name(op.type) + " \"" + op.id + "\") names no partition key; give its \"partitionKey\", e.g. \"[\\\"value\\\"]\"");
  };
  switch (op.type) {
    case Type::create:
    case Type::upsert: {
      auto r = write_item(db, op.type == Type::create ? WriteMode::create : WriteMode::upsert, ref, pk, op.body, nullptr, op.if_match);
      if (!r) return op_failed(r.error());
      int status = r.value().created ? 201 : 200;
      return op_done(status, std::move(r.value()));
    }
    case Type::replace: {
      auto r = write_item(db, WriteMode::replace, ref, pk, op.body, &op.id, op.if_match);
      if (!r) return op_failed(r.error());
      return op_done(200, std::move(r.value()));
    }
    case Type::read: {
      if (auto e = needs_pk()) return op_failed(*e);
      auto r = read_item(db, ref, op.id, *pk);
      if (!r) return op_failed(r.error());
      if (op.if_none_match && (*op.if_none_match == "*" || *op.if_none_match == r.value().etag)) {
        api::BatchOperationResult nm = op_done(304, std::nullopt);
        return nm;
      }
      return op_done(200, std::move(r.value()));
    }
    case Type::remove: {
      if (auto e = needs_pk()) return op_failed(*e);
      auto r = delete_item(db, ref, op.id, *pk, op.if_match);
      if (!r) return op_failed(r.error());
      return op_done(204, std::nullopt);
    }
    case Type::patch: {
      if (auto e = needs_pk()) return op_failed(*e);
      auto r = patch_item(db, ref, op.id, *pk, op.patch, op.if_match);
      if (!r) return op_failed(r.error());
      return op_done(200, std::move(r.value()));
    }
  }
  return op_failed(bad("operation " + std::to_string(index) + " has an unknown type"));
}

}  // namespace

DocResult<std::vector<api::BatchOperationResult>> execute_batch(SqliteDb& db, const api::ContainerRef& ref, const std::optional<api::PartitionKey>& pk,
                                                                const std::vector<api::BatchOperation>& ops, const api::BatchOptions& options) {
  const char* kind = options.atomic ? "transactional batch" : "bulk request";
  if (ops.empty()) return bad(std::string("the ") + kind + " has no operations; send 1 to 100");
  if (ops.size() > api::kMaxBatchOperations)
    return bad(std::string("the ") + kind + " has " + std::to_string(ops.size()) + " operations; one request holds at most 100, so split it");
  SqliteDb::DocCatalogEntry* entry = nullptr;
  auto c = load_write_container(db, ref, &entry);
  if (!c) return container_not_found(ref);
  if (options.atomic) {
    if (!pk) return bad("a transactional batch names its logical partition (header x-ms-documentdb-partitionkey, e.g. [\"value\"]); every operation runs in it");
    auto batch_pk = canonical_pk(*pk, *c);
    if (auto* e = std::get_if<DocError>(&batch_pk)) return *e;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (!ops[i].partition_key) continue;
      auto op_pk = canonical_pk(*ops[i].partition_key, *c);
      if (auto* e = std::get_if<DocError>(&op_pk)) return bad("operation " + std::to_string(i) + ": " + e->message);
      // The first sentence is the service's own (the SDK's tests match it); ours says which.
      std::string id = ops[i].id;
      if (auto* v = ops[i].body.if_contains("id"); id.empty() && v && v->is_string()) id = std::string(v->as_string());
      if (std::get<std::string>(op_pk) != std::get<std::string>(batch_pk))
        return bad("One or more operations within the batch request have a different partition key value than the request. Operation " +
                   std::to_string(i) + " (" + batch_op_name(ops[i].type) + " \"" + id + "\") is for partition " + std::get<std::string>(op_pk) +
                   ", but the transactional batch is for partition " + std::get<std::string>(batch_pk) +
                   "; a transactional batch stays within one logical partition: send the others as their own batch, or use bulk");
    }
  }
  std::vector<api::BatchOperationResult> results;
  results.reserve(ops.size());
  auto step = [&](const char* sql) {
    auto st = db.q(sql);
    st.step();
  };
  size_t notices_before = db.notices.size();
  // All or nothing inside the engine's batch transaction: a savepoint undoes the operations
  // already applied when a later one fails (each operation alone checks before it writes).
  if (options.atomic) step("SAVEPOINT doc_batch");
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto& op_pk = options.atomic ? pk : ops[i].partition_key;
    results.push_back(run_batch_op(db, ref, ops[i], op_pk, i));
    if (results.back().status < 400) continue;
    if (!options.atomic && options.continue_on_error) continue;
    if (options.atomic) {
      step("ROLLBACK TO doc_batch");
      step("RELEASE doc_batch");
      db.notices.resize(notices_before);
      forget_lsn(db, ref);  // the LSNs the batch took are taken back with it
    }
    std::string why = "operation " + std::to_string(i) + " (" + batch_op_name(ops[i].type) + ") failed with " + std::to_string(results.back().status) +
                      (options.atomic ? ", so the transactional batch applied nothing" : " and the bulk request does not continue on error");
    for (size_t j = 0; j < ops.size(); ++j) {
      if (j == i) continue;
      if (j < i && !options.atomic) continue;  // bulk: what ran before stays
      api::BatchOperationResult dep;
      dep.status = 424;
      dep.error = DocError{DocErrc::bad_request, why};
      if (j < results.size()) results[j] = std::move(dep);
      else results.push_back(std::move(dep));
    }
    return results;
  }
  if (options.atomic) step("RELEASE doc_batch");
  return results;
}

namespace {

std::variant<int, DocError> page_size(int requested) {
  if (requested == -1 || requested == 0) return api::kDefaultMaxItemCount;
  if (requested < -1 || requested > api::kMaxMaxItemCount)
    return bad("x-ms-max-item-count " + std::to_string(requested) + " is out of range; use -1 (the default, 100) or 1..1000");
  return requested;
}

DocError bad_continuation(const std::string& token) {
  std::string shown = token.substr(0, 60);
  // "Invalid Continuation Token" is the service's wording (the SDK's tests match it).
  return bad("Invalid Continuation Token: \"" + shown + (token.size() > 60 ? "..." : "") + "\" is not one this store issued for this request; start again without a continuation");
}

// The store's own positions in continuations: a JSON array, base64 so that it is ASCII and
// opaque. position_of() gives an empty array for a token that is not one.
std::string position_token(const json::array& position) { return base64_encode(json::serialize(position)); }
json::array position_of(const std::string& token) {
  std::string raw;
  boost::system::error_code ec;
  if (!base64_decode(token, raw) || raw.empty()) return {};
  json::value v = json::parse(raw, ec);
  return !ec && v.is_array() ? std::move(v.as_array()) : json::array();
}

// The body of item row `seq` when it is a live item of container `cid` (and of partition `pk`,
// when given): what an index entry points at may have expired and not been swept yet.
std::optional<std::string> live_body(SqliteDb& db, int64_t cid, int64_t seq, const std::optional<std::string>& pk = std::nullopt) {
  auto st = db.q("SELECT cid, pk, expires, body FROM doc_items WHERE seq=?1");
  st.bind(1, seq);
  if (!st.step() || st.i64(0) != cid || st.i64(2) <= db.now || (pk && st.text(1) != *pk)) return std::nullopt;
  return st.text(3);
}

// The query's rows over these documents alone, in its order (the pagers run it on one
// document, or one group, at a time).
DocResult<std::vector<json::value>> rows_over(const api::DocumentQuery& q, const std::vector<json::object>& docs) {
  size_t i = 0;
  return q.run([&]() -> const json::object* { return i < docs.size() ? &docs[i++] : nullptr; });
}

// A body a query reads, parsed and counted in the page's stats.
json::object read_body(const std::string& body, api::QueryStats& stats) {
  ++stats.retrieved_documents;
  stats.retrieved_bytes += static_cast<int64_t>(body.size());
  return parse_body(body);
}

}  // namespace

DocResult<api::Page> read_feed(SqliteDb& db, const api::ContainerRef& ref, const api::FeedOptions& options) {
  auto size = page_size(options.max_item_count);
  if (auto* e = std::get_if<DocError>(&size)) return *e;
  int n = std::get<int>(size);
  auto c = load_read_container(db, ref);
  if (!c) return container_not_found(ref);
  // Keyset paging on (pk, id), the unique index: the continuation is the last key returned.
  std::string after_pk, after_id;
  bool has_after = false;
  if (!options.continuation.empty()) {
    json::array a = position_of(options.continuation);
    if (a.size() != 3 || a[0] != "rf" || !a[1].is_string() || !a[2].is_string()) return bad_continuation(options.continuation);
    after_pk = std::string(a[1].as_string());
    after_id = std::string(a[2].as_string());
    has_after = true;
  }
  std::string pk_filter;
  if (options.partition_key) {
    auto p = canonical_pk(*options.partition_key, *c);
    if (auto* e = std::get_if<DocError>(&p)) return *e;
    pk_filter = std::get<std::string>(p);
  }
  api::Page page;
  auto st = db.q(
      "SELECT pk, id, body FROM doc_items WHERE cid=?1 AND expires>?2 AND (?3=0 OR (pk,id)>(?4,?5)) AND (?6=0 OR pk=?7) "
      "ORDER BY pk, id LIMIT ?8");
  st.bind(1, c->cid()).bind(2, db.now).bind(3, has_after ? 1 : 0).bind(4, after_pk).bind(5, after_id)
      .bind(6, options.partition_key ? 1 : 0).bind(7, pk_filter).bind(8, n);
  std::string last_pk, last_id;
  while (st.step()) {
    last_pk = st.text(0);
    last_id = st.text(1);
    page.items.emplace_back(parse_body(st.text(2)));
  }
  // As the service pages a read feed: a full page has a continuation, whether or not more
  // follows (the SDK's own readAll iterator tests count the empty page after a full last one).
  if (static_cast<int>(page.items.size()) == n)
    page.continuation = position_token({"rf", json::string(last_pk), json::string(last_id)});
  return page;
}

namespace {

// Live rows of a container (or of one partition) without reading them: every row counted on
// the smallest index, less the expired rows not yet swept (the partial expiry index holds
// only rows with a TTL, so that count is small).
int64_t count_live(SqliteDb& db, const ReadContainer& c, const std::optional<std::string>& pk) {
  if (pk) {
    auto st = db.q("SELECT count(*) FROM doc_items WHERE cid=?1 AND pk=?2 AND expires>?3");
    st.bind(1, c.cid()).bind(2, *pk).bind(3, db.now);
    return st.step() ? st.i64(0) : 0;
  }
  int64_t all = 0, expired = 0;
  {
    auto st = db.q("SELECT count(*) FROM doc_items INDEXED BY doc_items_lsn WHERE cid=?1");
    st.bind(1, c.cid());
    if (st.step()) all = st.i64(0);
  }
  auto st = db.q("SELECT count(*) FROM doc_items INDEXED BY doc_items_expiry WHERE expires<=?2 AND expires<9223372036854775807 AND cid=?1");
  st.bind(1, c.cid()).bind(2, db.now);
  if (st.step()) expired = st.i64(0);
  return all - expired;
}

// Whether every stored row of the container has an index entry at exactly `path` (a scalar
// there, indexed by the policy). Only then does the index, read in order, hold every document
// in ORDER BY order: a document without one (undefined, an array or an object there) sorts
// before or after all scalars and would be missed. Two counts over 1,000,000 rows cost tens to
// hundreds of milliseconds, so a "yes" is kept per path with the container's LSN and carried
// forward by checking only the rows written since (every write gives its row the new LSN, and
// entries are derived from the body alone, so a row has the entry iff its body holds a scalar
// there). Deletes and the sweep of expired rows remove rows with their entries, which keeps a
// "yes" true. A "no" is recounted once the LSN moves (the row that made it "no" may be gone).
constexpr int64_t kMaxRowsToCarryForward = 20000;

bool holds_indexed_scalar(const json::object& doc, const std::vector<std::string>& comps) {
  const json::object* o = &doc;
  const json::value* v = nullptr;
  for (size_t i = 0; i < comps.size(); ++i) {
    v = o->if_contains(comps[i]);
    if (!v) return false;
    if (i + 1 < comps.size()) {
      if (!v->is_object()) return false;
      o = &v->as_object();
    }
  }
  return v && encode_index_value(*v).has_value();
}

bool every_row_indexed_at(SqliteDb& db, const ReadContainer& c, const std::string& path,
                          const std::vector<std::string>& comps) {
  // Keyed by the database file too: the definition cache is process-wide, and two copies of
  // one file open in one process share (cid, etag) but not their later writes.
  const char* file = sqlite3_db_filename(db.conn, "main");
  std::string key = std::string(file ? file : "") + '\n' + path;
  std::optional<int64_t> known_full_at;
  {
    std::lock_guard lk(c.def->mu);
    auto it = c.def->full_paths.find(key);
    if (it != c.def->full_paths.end()) {
      if (it->second.first == c.lsn) return it->second.second;
      if (it->second.second && it->second.first < c.lsn) known_full_at = it->second.first;
    }
  }
  std::optional<bool> full;
  if (known_full_at && c.lsn - *known_full_at <= kMaxRowsToCarryForward) {
    full = true;
    auto st = db.q("SELECT body FROM doc_items WHERE cid=?1 AND lsn>?2");
    st.bind(1, c.cid()).bind(2, *known_full_at);
    while (*full && st.step()) full = holds_indexed_scalar(parse_body(st.text(0)), comps);
  }
  if (!full) {
    int64_t rows = 0, entries = -1;
    {
      auto st = db.q("SELECT count(*) FROM doc_items INDEXED BY doc_items_lsn WHERE cid=?1");
      st.bind(1, c.cid());
      if (st.step()) rows = st.i64(0);
    }
    {
      auto st = db.q("SELECT count(*) FROM doc_index WHERE cid=?1 AND path=?2");
      st.bind(1, c.cid()).bind(2, path);
      if (st.step()) entries = st.i64(0);
    }
    full = rows == entries;
  }
  std::lock_guard lk(c.def->mu);
  if (c.def->full_paths.size() >= 256) c.def->full_paths.clear();
  c.def->full_paths[key] = {c.lsn, *full};
  return *full;
}

// An object key "0" and an array element 0 share an index path, while a query's path reads
// only one of them: the index cannot order or rank such a path's documents.
bool has_array_index_like_component(const std::vector<std::string>& comps) {
  return std::any_of(comps.begin(), comps.end(), [](const std::string& comp) {
    return comp.empty() || std::all_of(comp.begin(), comp.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  });
}

// The index path whose entries put a whole container in ORDER BY order of `comps`, or nullopt:
// the policy indexes it, it has no array-index-like component (above), and (when `every_row`)
// every live row has an entry there.
std::optional<std::string> ordering_index_path(SqliteDb& db, const ReadContainer& c, const std::vector<std::string>& comps,
                                               bool every_row) {
  if (has_array_index_like_component(comps)) return std::nullopt;
  if (c.policy().none || !c.policy().indexed(comps)) return std::nullopt;
  std::string path = encode_path(comps);
  if (every_row && !every_row_indexed_at(db, c, path, comps)) return std::nullopt;
  return path;
}

// The executor's answer over documents fed best first (ordered_by_index, ordered_by_vector),
// for a bounded query (QueryHints::take). `Entries` yields the items in the query's order:
// rewind() starts over, next(seq) gives the next entry's item, tie() says whether that entry
// sorts with the last one fed, and fed() notes that it was fed (it was live). After `skip +
// take` documents, feeding goes on while entries tie with the last one fed, so every document
// not fed sorts strictly after every one fed; if the answer (the executor re-checks WHERE) is
// then full, it is the answer over the whole container. Otherwise feeding starts over with
// four times as many. Entries run out with the answer still short: it is the answer when the
// entries cover every item (`complete`), else nullopt (the caller scans).
template <class Entries>
std::optional<DocResult<std::vector<json::value>>> feed_best_first(SqliteDb& db, const ReadContainer& c,
                                                                    const api::DocumentQuery& q, const api::QueryHints& hints,
                                                                    api::QueryStats& stats, Entries& entries, bool complete) {
  int64_t take = *hints.take;
  int64_t feed = std::max<int64_t>(1, take + std::max<int64_t>(0, hints.skip));
  for (;;) {
    entries.rewind();
    int64_t fed = 0;
    bool exhausted = false;
    json::object current;
    std::function<const json::object*()> next = [&]() -> const json::object* {
      int64_t seq = 0;
      while (entries.next(seq)) {
        if (fed >= feed && !entries.tie()) return nullptr;  // the rest sorts strictly after
        auto body = live_body(db, c.cid(), seq);
        if (!body) continue;
        entries.fed();
        ++fed;
        current = read_body(*body, stats);
        return &current;
      }
      exhausted = true;
      return nullptr;
    };
    auto rows = q.run(next);
    if (!rows || static_cast<int64_t>(rows.value().size()) >= take) return rows;
    if (exhausted) return complete ? std::optional(std::move(rows)) : std::nullopt;
    feed *= 4;
  }
}

// ORDER BY <path> with TOP / OFFSET LIMIT over the whole container, when ordering_index_path()
// holds: documents fed in the path's index order (feed_best_first). Entries tie when their
// index values are equal: equal values, and strings equal in their indexed prefix.
// nullopt: the walk does not apply; the caller runs the query as a scan.
std::optional<DocResult<std::vector<json::value>>> ordered_by_index(SqliteDb& db, const ReadContainer& c,
                                                                     const api::DocumentQuery& q,
                                                                     const api::QueryHints& hints, api::QueryStats& stats) {
  auto ordering = ordering_index_path(db, c, *hints.order_path, true);
  if (!ordering) return std::nullopt;
  struct Walk {
    SqliteDb& db;
    const ReadContainer& c;
    const std::string& path;
    bool descending;
    std::optional<SqliteDb::Query> st;
    std::string val, last;
    void rewind() {
      st.emplace(descending ? db.q("SELECT val, item FROM doc_index WHERE cid=?1 AND path=?2 ORDER BY val DESC, item DESC")
                            : db.q("SELECT val, item FROM doc_index WHERE cid=?1 AND path=?2 ORDER BY val, item"));
      st->bind(1, c.cid()).bind(2, path);
    }
    bool next(int64_t& seq) {
      if (!st->step()) return false;
      val = st->text(0);
      seq = st->i64(1);
      return true;
    }
    bool tie() const { return val == last; }
    void fed() { last = val; }
  } walk{db, c, *ordering, hints.order_descending, std::nullopt, {}, {}};
  return feed_best_first(db, c, q, hints, stats, walk, true);
}

// ORDER BY [RANK] VectorDistance(<path>, <fixed vector>) with TOP / OFFSET LIMIT over the whole
// container whose policy has a vector index on the path: every vector is scored from its index
// row (no document is read or parsed for it), and the documents are fed to the executor best
// first (feed_best_first). The executor scores, sorts and filters again, so the index only
// chooses which documents it reads. Entries tie when their scores are within a relative 1e-9
// (equal scores, and the last bits two summation orders may give). A document without a score
// sorts after all (RANK, descending) or before all (ascending: undefined first); the latter
// is served only when every row has a vector. nullopt: a scan answers.
std::optional<DocResult<std::vector<json::value>>> ordered_by_vector(SqliteDb& db, const ReadContainer& c,
                                                                      const api::DocumentQuery& q,
                                                                      const api::QueryHints& hints, api::QueryStats& stats) {
  const auto& vo = *hints.vector_order;
  const auto& vectors = c.policy().vectors;
  if (has_array_index_like_component(vo.path)) return std::nullopt;
  const std::string encoded = encode_path(vo.path);
  if (c.policy().none || std::find(vectors.begin(), vectors.end(), encoded) == vectors.end()) return std::nullopt;
  using Distance = api::QueryHints::VectorOrder::Distance;
  struct Scored {
    double score;
    int64_t seq;
  };
  std::vector<Scored> scored;
  {
    const std::string key = vector_key(encoded);  // bound without a copy: must outlive step()
    auto st = db.q("SELECT val, item FROM doc_index WHERE cid=?1 AND path=?2");
    st.bind(1, c.cid()).bind(2, key);
    const size_t n = vo.query.size();
    double qq = 0;
    for (double y : vo.query) qq += y * y;
    while (st.step()) {
      std::string_view blob = st.text_view(0);
      if (blob.size() != n * sizeof(double)) continue;  // another length: VectorDistance is undefined
      // As builtins.cc's vector_distance computes it, term by term in the same order.
      double dot = 0, xx = 0, sq = 0;
      for (size_t i = 0; i < n; ++i) {
        double p;
        std::memcpy(&p, blob.data() + i * sizeof(double), sizeof p);
        double y = vo.query[i];
        dot += p * y;
        xx += p * p;
        sq += (p - y) * (p - y);
      }
      double score = vo.distance == Distance::euclidean ? std::sqrt(sq)
                     : vo.distance == Distance::dot_product ? dot
                     : (xx == 0 || qq == 0) ? std::nan("")
                                            : dot / (std::sqrt(xx) * std::sqrt(qq));
      if (!std::isnan(score)) scored.push_back({score, st.i64(1)});
    }
  }
  if (!vo.unscored_last) {
    // Undefined sorts first: only a container where every row has a vector has none.
    auto st = db.q("SELECT items FROM doc_containers WHERE cid=?1");
    st.bind(1, c.cid());
    if (!st.step() || static_cast<int64_t>(scored.size()) != st.i64(0)) return std::nullopt;
  }
  std::sort(scored.begin(), scored.end(), [&](const Scored& a, const Scored& b) {
    return vo.descending ? a.score > b.score : a.score < b.score;
  });
  struct Ranked {
    const std::vector<Scored>& scored;
    size_t at = 0;
    double last = 0;
    void rewind() { at = 0; }
    bool next(int64_t& seq) {
      if (at == scored.size()) return false;
      seq = scored[at++].seq;
      return true;
    }
    bool tie() const {
      double a = scored[at - 1].score;
      return std::fabs(a - last) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(last)});
    }
    void fed() { last = scored[at - 1].score; }
  } ranked{scored};
  // Every scored document fed and the answer still short: the unscored ones belong in it too.
  return feed_best_first(db, c, q, hints, stats, ranked, false);
}

}  // namespace

namespace {
// A query's continuation, in the shape the service's single-range tokens have (JSON with the
// store's own token and the range it covers: the SDK's tests JSON.parse it), ASCII only.
std::string wrap_query_token(const std::string& inner) {
  return json::serialize(json::object{{"token", inner}, {"range", json::object{{"min", ""}, {"max", "FF"}}}});
}
std::optional<std::string> unwrap_query_token(const std::string& token) {
  boost::system::error_code ec;
  json::value v = json::parse(token, ec);
  const json::value* t = !ec && v.is_object() ? v.as_object().if_contains("token") : nullptr;
  if (!t || !t->is_string()) return std::nullopt;
  return std::string(t->as_string());
}

// A streaming query (QueryHints::streams), one page: the query runs one document at a time,
// in the order its input comes (the partition or container along (pk, id), or index
// candidates by seq), from where the last page stopped, until the page is full and the next
// row is known to exist. So reading a large container page by page costs each document once,
// not once per page. The continuation names the document to resume at and how many of its
// rows were already returned (a JOIN may split one document's rows across pages):
// base64(["qs", pk, id, skip]) for a scan, base64(["qi", seq, skip]) for index candidates.
DocResult<api::Page> query_streaming(SqliteDb& db, const ReadContainer& c, const api::DocumentQuery& q, size_t n,
                                     const std::string& token, const std::optional<std::string>& pk_filter,
                                     std::optional<std::vector<int64_t>> candidates,
                                     std::chrono::steady_clock::time_point started) {
  std::string at_pk, at_id;
  int64_t at_seq = 0, skip = 0;
  bool resume = !token.empty();
  if (resume) {
    json::array a = position_of(token);
    bool scan_token = a.size() == 4 && a[0] == "qs" && a[1].is_string() && a[2].is_string() && a[3].is_int64();
    bool index_token = a.size() == 3 && a[0] == "qi" && a[1].is_int64() && a[2].is_int64();
    if (candidates ? !index_token : !scan_token) return bad_continuation(token);
    if (scan_token) {
      at_pk = std::string(a[1].as_string());
      at_id = std::string(a[2].as_string());
      skip = a[3].as_int64();
    } else {
      at_seq = a[1].as_int64();
      skip = a[2].as_int64();
    }
    if (skip < 0) return bad_continuation(token);
  }
  api::Page page;
  api::QueryStats stats;
  stats.from_index = candidates.has_value();
  std::vector<json::object> doc(1);
  // One document's rows.
  auto rows_of = [&](const std::string& body) {
    doc[0] = read_body(body, stats);
    return rows_over(q, doc);
  };
  // Adds one document's rows; true when the page is done (continuation set if more follow).
  auto take = [&](std::vector<json::value>& rows, bool is_resume_doc, auto make_token) {
    int64_t base = is_resume_doc ? skip : 0;
    if (base >= static_cast<int64_t>(rows.size())) return false;
    if (page.items.size() == n) {  // a row beyond the full page exists: resume here
      page.continuation = wrap_query_token(make_token(base));
      return true;
    }
    size_t room = n - page.items.size();
    size_t avail = rows.size() - static_cast<size_t>(base);
    size_t k = std::min(room, avail);
    for (size_t i = 0; i < k; ++i) page.items.push_back(std::move(rows[static_cast<size_t>(base) + i]));
    if (k < avail) {
      page.continuation = wrap_query_token(make_token(base + static_cast<int64_t>(k)));
      return true;
    }
    return false;
  };
  if (candidates) {
    const auto& seqs = *candidates;  // sorted and unique (query())
    for (auto it = std::lower_bound(seqs.begin(), seqs.end(), at_seq); it != seqs.end(); ++it) {
      auto body = live_body(db, c.cid(), *it, pk_filter);
      if (!body) continue;
      auto rows = rows_of(*body);
      if (!rows) return rows.error();
      int64_t seq = *it;
      if (take(rows.value(), resume && seq == at_seq, [&](int64_t k) { return position_token({"qi", seq, k}); }))
        break;
    }
  } else {
    // (pk, id) >= the resume point, along the unique index; the first page starts at the start.
    auto st = pk_filter ? db.q("SELECT pk, id, body FROM doc_items WHERE cid=?1 AND pk=?2 AND expires>?3 AND id>=?4 ORDER BY id")
                        : db.q("SELECT pk, id, body FROM doc_items WHERE cid=?1 AND expires>?3 AND (pk, id)>=(?5, ?4) ORDER BY pk, id");
    st.bind(1, c.cid()).bind(3, db.now).bind(4, at_id);
    if (pk_filter) st.bind(2, *pk_filter);
    else st.bind(5, at_pk);
    while (st.step()) {
      std::string pk = st.text(0), id = st.text(1), body = st.text(2);
      auto rows = rows_of(body);
      if (!rows) return rows.error();
      bool is_resume_doc = resume && pk == at_pk && id == at_id;
      if (take(rows.value(), is_resume_doc, [&](int64_t k) { return position_token({"qs", json::string(pk), json::string(id), k}); }))
        break;
    }
  }
  stats.execution_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  page.stats = stats;
  return page;
}

// Whether index entries equal to `val` may stand for different ORDER BY keys: a string cut at
// kIndexedStringBytes. (Numbers need no such care: the engine orders them as doubles too, so
// two integers beyond 2^53 that share a double are equal keys to it as well.)
bool lossy_index_value(const std::string& val) {
  return val.size() == 1 + kIndexedStringBytes && val[0] == kTagString;
}

// An ORDER BY query over the whole container (QueryHints::order_streams), one page: the
// documents are read along the order path's index entries from where the last page stopped,
// each run through the query alone (it yields at most one row), until the page is full and the
// next row is known to exist. So paging through an ORDER BY answer reads each document about
// once instead of re-running the query over the container for every page.
// Entries with equal values come in seq order, reversed for DESC (the service leaves the order
// of ties open; a re-run page, the fallback, breaks them by (pk, id) instead); a run of equal
// entries that may hold different keys (lossy_index_value) is read as one group and ordered by
// the query itself. Continuations (base64 JSON): ["qo", value, seq], resume strictly after
// that entry in walk order, or ["qg", value, k], resume inside the group of that value after k
// of its rows. What is written while the pages are read shows as with any position-based
// continuation: a document written behind the position is not seen by the later pages (for
// DESC that includes one written without the path, whose undefined key sorts last), and a
// write inside a cut-string group being paged may shift its rows by one (k counts rows).
DocResult<api::Page> query_ordered(SqliteDb& db, const ReadContainer& c, const api::DocumentQuery& q, bool descending,
                                   const std::string& path, size_t n, const std::string& token,
                                   std::chrono::steady_clock::time_point started) {
  // The walk's start, exclusive in walk order. Entries' items are seqs (>= 1) and values start
  // with a type tag below 0xFF, so (x'', -1) precedes every entry and (x'FF', 0) follows it.
  const int64_t group_end = descending ? 0 : std::numeric_limits<int64_t>::max();
  std::string bound_val = descending ? std::string(1, '\xFF') : std::string();
  int64_t bound_seq = descending ? 0 : -1;
  std::optional<std::pair<std::string, int64_t>> resume_group;  // value, rows of it returned
  if (!token.empty()) {
    json::array a = position_of(token);
    std::string val;
    bool ok = a.size() == 3 && (a[0] == "qo" || a[0] == "qg") && a[1].is_string() && a[2].is_int64() &&
              base64_decode(a[1].as_string(), val) && !val.empty();
    if (!ok || a[2].as_int64() < 0) return bad_continuation(token);
    bound_val = val;
    if (a[0] == "qo") {
      bound_seq = a[2].as_int64();
    } else {
      bound_seq = descending ? std::numeric_limits<int64_t>::max() : 0;  // the whole group is ahead
      resume_group.emplace(val, a[2].as_int64());
    }
  }
  auto walk = descending
                  ? db.q("SELECT val, item FROM doc_index WHERE cid=?1 AND path=?2 AND (val, item)<(?3, ?4) ORDER BY val DESC, item DESC")
                  : db.q("SELECT val, item FROM doc_index WHERE cid=?1 AND path=?2 AND (val, item)>(?3, ?4) ORDER BY val, item");
  walk.bind(1, c.cid()).bind(2, path).bind_blob(3, bound_val).bind(4, bound_seq);  // both outlive the walk

  api::Page page;
  api::QueryStats stats;
  stats.from_index = true;
  std::vector<json::object> docs;
  auto load = [&](int64_t seq) {
    if (auto body = live_body(db, c.cid(), seq)) docs.push_back(read_body(*body, stats));
  };
  // Where the page's last row came from: one entry, or a group with `taken` of its rows out.
  struct Last {
    std::string val;
    int64_t seq = 0;
    bool group = false;
    size_t taken = 0, rows = 0;
  };
  std::optional<Last> last;
  auto continue_after_last = [&] {
    json::array t = last->group && last->taken < last->rows
                        ? json::array{"qg", json::string(base64_encode(last->val)), static_cast<int64_t>(last->taken)}
                        : json::array{"qo", json::string(base64_encode(last->val)), last->group ? group_end : last->seq};
    page.continuation = wrap_query_token(position_token(t));
  };
  std::optional<std::pair<std::string, int64_t>> peeked;  // an entry read past a group's end
  bool walked = false;  // stepped to its end (a further step would start the walk over)
  auto next_entry = [&](std::string& val, int64_t& seq) {
    if (peeked) {
      val = std::move(peeked->first);
      seq = peeked->second;
      peeked.reset();
      return true;
    }
    if (walked) return false;
    if (!walk.step()) {
      walked = true;
      return false;
    }
    val = walk.text(0);
    seq = walk.i64(1);
    return true;
  };
  std::string val;
  int64_t seq = 0;
  while (next_entry(val, seq)) {
    docs.clear();
    load(seq);
    bool group = lossy_index_value(val);
    if (group) {
      std::string other;
      int64_t other_seq = 0;
      while (next_entry(other, other_seq)) {
        if (other != val) {
          peeked.emplace(std::move(other), other_seq);
          break;
        }
        load(other_seq);
      }
    }
    if (docs.empty()) continue;
    auto found = rows_over(q, docs);
    if (!found) return found.error();
    auto& rows = found.value();
    size_t base = 0;
    if (resume_group && resume_group->first == val) base = static_cast<size_t>(std::min<int64_t>(resume_group->second, static_cast<int64_t>(rows.size())));
    resume_group.reset();  // only the walk's first group can be the one resumed
    if (base >= rows.size()) continue;
    if (page.items.size() == n) {  // a row beyond the full page exists
      continue_after_last();
      break;
    }
    size_t k = std::min(n - page.items.size(), rows.size() - base);
    for (size_t i = 0; i < k; ++i) page.items.push_back(std::move(rows[base + i]));
    last = Last{val, seq, group, base + k, rows.size()};
    if (base + k < rows.size()) {  // the group's next row is the next page's first
      continue_after_last();
      break;
    }
  }
  stats.execution_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  page.stats = stats;
  return page;
}
}  // namespace

namespace {
// Queries the engine answers only whole (GROUP BY, DISTINCT, aggregates, TOP/OFFSET, ORDER BY
// off the index): their first page computes every row, and the rows after it are kept here for
// the later pages, which the token names ("q:<offset>:<answer>"), instead of re-running the
// query over the container for every page (2,000 groups over 20,000 items by pages of 100:
// 0.65 s of CPU; bench/documents/query_paging.mjs). A later page then shows the answer as it
// was at the first page. Bounded: kMaxAnswers answers of at most kMaxAnswerBytes in all, each
// dropped when its last page is served or after kAnswerIdleMs without one; a token whose
// answer is gone falls back to re-running the query and slicing at its offset, as before.
struct QueryAnswer {
  int64_t cid = 0;
  std::string identity;  // api::DocumentQuery::identity(): served to that query only
  std::string pk_filter;
  std::vector<json::value> rows;
  size_t bytes = 0;
  int64_t used_ms = 0;
};
struct QueryAnswers {
  std::map<uint64_t, QueryAnswer> by_id;
  size_t bytes = 0;
};
constexpr size_t kMaxAnswers = 32;
constexpr size_t kMaxAnswerBytes = 64 << 20;
constexpr int64_t kAnswerIdleMs = 60000;

QueryAnswers& answers_of(SqliteDb& db) {
  if (!db.doc_query_answers) db.doc_query_answers = std::make_shared<QueryAnswers>();
  return *static_cast<QueryAnswers*>(db.doc_query_answers.get());
}

void drop_answer(QueryAnswers& a, std::map<uint64_t, QueryAnswer>::iterator it) {
  a.bytes -= it->second.bytes;
  a.by_id.erase(it);
}

void drop_idle_answers(SqliteDb& db, int64_t now) {
  if (!db.doc_query_answers) return;
  auto& a = answers_of(db);
  for (auto it = a.by_id.begin(); it != a.by_id.end();)
    if (now - it->second.used_ms > kAnswerIdleMs) drop_answer(a, it++);
    else ++it;
}

// Keeps `rows` for later pages; 0 when they do not fit (the caller's token then re-runs).
uint64_t keep_answer(SqliteDb& db, int64_t cid, std::string identity, const std::optional<std::string>& pk_filter,
                     std::vector<json::value> rows) {
  if (identity.empty()) return 0;
  size_t bytes = 0;
  for (auto& r : rows) bytes += json::serialize(r).size() + 64;  // rough: what the values hold in memory
  if (bytes > kMaxAnswerBytes / 2) return 0;
  auto& a = answers_of(db);
  drop_idle_answers(db, db.now);
  while (!a.by_id.empty() && (a.by_id.size() >= kMaxAnswers || a.bytes + bytes > kMaxAnswerBytes)) {
    auto oldest = std::min_element(a.by_id.begin(), a.by_id.end(),
                                   [](const auto& x, const auto& y) { return x.second.used_ms < y.second.used_ms; });
    drop_answer(a, oldest);
  }
  uint64_t id = db.random64() | 1;  // never 0
  a.bytes += bytes;
  a.by_id[id] = QueryAnswer{cid, std::move(identity), pk_filter.value_or(""), std::move(rows), bytes, db.now};
  return id;
}
}  // namespace

DocResult<api::Page> query(SqliteDb& db, const api::ContainerRef& ref, const api::DocumentQuery& q_in, const api::FeedOptions& options) {
  auto started = std::chrono::steady_clock::now();
  auto size = page_size(options.max_item_count);
  if (auto* e = std::get_if<DocError>(&size)) return *e;
  size_t n = static_cast<size_t>(std::get<int>(size));
  size_t offset = 0;
  std::string inner;  // the store's own token inside the continuation
  if (!options.continuation.empty()) {
    auto t = unwrap_query_token(options.continuation);
    if (!t) return bad_continuation(options.continuation);
    inner = std::move(*t);
  }
  bool offset_token = inner.compare(0, 2, "q:") == 0;
  uint64_t answer_id = 0;
  if (offset_token) {
    // "q:<offset>[:<answer>]": the rows already returned, for a query that is answered whole
    // (ORDER BY, GROUP BY, DISTINCT, TOP ...: the engine keeps no cursor), and the kept answer
    // (QueryAnswers) the next rows come from; without it the query is re-run, so such a page
    // is stable only while the container does not change in between. Streaming queries page
    // by position instead (query_streaming).
    std::string_view t(inner);
    t.remove_prefix(2);
    std::string_view id_text;
    if (size_t colon = t.find(':'); colon != std::string_view::npos) {
      id_text = t.substr(colon + 1);
      t = t.substr(0, colon);
    }
    // Digits only, and a value that fits (from_chars reports what does not).
    auto number = [](std::string_view d, size_t max, uint64_t& out) {
      if (d.empty() || d.size() > max || !std::all_of(d.begin(), d.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) return false;
      auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), out);
      return ec == std::errc() && end == d.data() + d.size();
    };
    uint64_t at = 0;
    if (!number(t, 12, at) || (!id_text.empty() && !number(id_text, 20, answer_id)) || (id_text.empty() && inner.back() == ':'))
      return bad_continuation(options.continuation);
    offset = static_cast<size_t>(at);
  }
  auto c = load_read_container(db, ref);
  if (!c) return container_not_found(ref);
  if (answer_id != 0) {
    auto& a = answers_of(db);
    auto it = a.by_id.find(answer_id);
    std::string pk_text;
    if (options.partition_key) {
      auto p = canonical_pk(*options.partition_key, *c);
      if (auto* e = std::get_if<DocError>(&p)) return *e;
      pk_text = std::get<std::string>(p);
    }
    if (it != a.by_id.end() && it->second.cid == c->cid() && it->second.identity == q_in.identity() &&
        it->second.pk_filter == pk_text && offset <= it->second.rows.size()) {
      // Copies: a page asked for again (a retry, an application's "back") gets the same rows.
      const auto& rows = it->second.rows;
      api::Page page;
      size_t end = std::min(rows.size(), offset + n);
      page.items.reserve(end - offset);
      for (size_t i = offset; i < end; ++i) page.items.push_back(rows[i]);
      if (end < rows.size()) {
        page.continuation = wrap_query_token("q:" + std::to_string(end) + ":" + std::to_string(answer_id));
        it->second.used_ms = db.now;
      } else {
        drop_answer(a, it);
      }
      api::QueryStats stats;
      stats.execution_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
      page.stats = stats;
      return page;
    }
  }
  // A container with computed properties or a vector embedding policy: the query is bound to
  // them (re-parsed; such containers are few).
  std::shared_ptr<const api::DocumentQuery> computed;
  if (!c->spec().computed_properties.empty() || !c->spec().vector_embedding_policy.empty()) {
    auto bound = q_in.for_container(c->spec());
    if (!bound) return bound.error();
    computed = std::move(bound.value());
  }
  const api::DocumentQuery& q = computed ? *computed : q_in;
  std::string single_path = c->spec().partition_key_paths.size() == 1 ? c->spec().partition_key_paths[0] : "";
  api::QueryHints hints = q.hints(single_path);

  std::optional<std::string> pk_filter;
  if (options.partition_key) {
    auto p = canonical_pk(*options.partition_key, *c);
    if (auto* e = std::get_if<DocError>(&p)) return *e;
    pk_filter = std::get<std::string>(p);
  } else if (hints.partition_key && !single_path.empty()) {
    if (auto p = canonical_pk(api::PartitionKey{*hints.partition_key}, *c); std::holds_alternative<std::string>(p))
      pk_filter = std::get<std::string>(p);
  }

  // Candidates from the index: one equality (or IN) predicate if any, else the tightest range
  // on one path. Any superset is correct (the query re-checks), so predicates on paths the
  // policy does not index, or with values the index does not hold, are simply not used.
  std::optional<std::vector<int64_t>> candidates;
  auto usable = [&](const api::IndexPredicate& p) {
    if (!c->policy().indexed(p.path) || p.values.empty()) return false;
    for (auto& v : p.values) if (!encode_index_value(v)) return false;
    return true;
  };
  auto lookup_eq = [&](const std::string& path, const std::vector<json::value>& values) {
    std::vector<int64_t> out;
    for (auto& v : values) {
      std::string val = *encode_index_value(v);
      auto st = db.q("SELECT item FROM doc_index WHERE cid=?1 AND path=?2 AND val=?3");
      st.bind(1, c->cid()).bind(2, path).bind_blob(3, val);
      while (st.step()) out.push_back(st.i64(0));
    }
    return out;
  };
  // The items whose text at a full-text indexed path holds every token: the rows of each
  // token intersected. Items read one by one by seq cost more each than a sequential scan (at
  // 18 % of the container the index path cost 1.16x the scan: bench/results/
  // 20261201T070715Z-23c2e13834-fulltext-index), so a token held by more than an eighth of
  // the container is left out (reading no more of its rows than that), and when every token is
  // that common the container is scanned. Candidates are a superset; the engine checks.
  auto lookup_tokens = [&](const api::IndexPredicate& p) -> std::optional<std::vector<int64_t>> {
    std::string path = encode_path(p.path);
    const auto& ft = c->policy().fulltext;
    // The store's own properties get no index rows (collect_members), whatever the policy says.
    if (std::find(ft.begin(), ft.end(), path) == ft.end() || p.values.empty() ||
        unindexed_system_property(p.path[0]))
      return std::nullopt;
    int64_t limit = 64;
    {
      auto st = db.q("SELECT items FROM doc_containers WHERE cid=?1");
      st.bind(1, c->cid());
      if (st.step()) limit = std::max<int64_t>(limit, st.i64(0) / 8);
    }
    std::optional<std::vector<int64_t>> have;
    const std::string key = fulltext_key(path);  // bound without a copy: must outlive step()
    for (auto& v : p.values) {
      if (!v.is_string()) return std::nullopt;
      std::vector<int64_t> rows;
      const std::string token = fulltext_value(v.get_string());
      auto st = db.q("SELECT item FROM doc_index WHERE cid=?1 AND path=?2 AND val=?3 LIMIT ?4");
      st.bind(1, c->cid()).bind(2, key).bind_blob(3, token).bind(4, limit + 1);
      while (st.step()) rows.push_back(st.i64(0));
      if (static_cast<int64_t>(rows.size()) > limit) continue;  // too common to narrow
      std::sort(rows.begin(), rows.end());
      if (have) {
        std::vector<int64_t> both;
        std::set_intersection(have->begin(), have->end(), rows.begin(), rows.end(), std::back_inserter(both));
        rows = std::move(both);
      }
      have = std::move(rows);
      if (have->empty()) break;
    }
    return have;
  };
  if (hints.reads_documents && !c->policy().none) {
    for (auto& p : hints.predicates)
      if ((p.op == api::IndexPredicate::Op::eq || p.op == api::IndexPredicate::Op::in) && usable(p)) {
        candidates = lookup_eq(encode_path(p.path), p.values);
        break;
      }
    for (auto& p : hints.predicates) {
      if (candidates) break;
      if (p.op == api::IndexPredicate::Op::text) candidates = lookup_tokens(p);
    }
    if (!candidates) {
      for (auto& p : hints.predicates) {
        if (p.op == api::IndexPredicate::Op::eq || p.op == api::IndexPredicate::Op::in ||
            p.op == api::IndexPredicate::Op::text || !usable(p))
          continue;
        // Every range predicate on this path narrows [lo, hi]; bounds stay inclusive.
        std::string lo, hi;
        char tag = (*encode_index_value(p.values[0]))[0];
        lo = std::string(1, tag);
        hi = type_end(tag);
        for (auto& r : hints.predicates) {
          if (r.path != p.path || r.op == api::IndexPredicate::Op::eq || r.op == api::IndexPredicate::Op::in ||
              r.op == api::IndexPredicate::Op::text || !usable(r))
            continue;
          std::string e = *encode_index_value(r.values[0]);
          if (e[0] != tag) continue;
          if (r.op == api::IndexPredicate::Op::gt || r.op == api::IndexPredicate::Op::ge) lo = std::max(lo, e);
          else hi = std::min(hi, e);
        }
        std::vector<int64_t> out;
        auto st = db.q("SELECT item FROM doc_index WHERE cid=?1 AND path=?2 AND val>=?3 AND val<=?4");
        std::string path = encode_path(p.path);
        st.bind(1, c->cid()).bind(2, path).bind_blob(3, lo).bind_blob(4, hi);
        while (st.step()) out.push_back(st.i64(0));
        candidates = std::move(out);
        break;
      }
    }
  }
  // Candidates in seq order, each once: both runners below read them so.
  if (candidates) {
    std::sort(candidates->begin(), candidates->end());
    candidates->erase(std::unique(candidates->begin(), candidates->end()), candidates->end());
  }

  if (hints.order_streams && hints.reads_documents && !candidates && !pk_filter && !offset_token) {
    // The first page also needs every row to have an entry at the path; a later one goes on
    // along the index whatever was written since (its token says where).
    if (auto path = ordering_index_path(db, *c, *hints.order_path, inner.empty()))
      return query_ordered(db, *c, q, hints.order_descending, *path, n, inner, started);
  }
  if (hints.streams && hints.reads_documents && !hints.count_only && !offset_token)
    return query_streaming(db, *c, q, n, inner, pk_filter, std::move(candidates), started);
  if (!inner.empty() && !offset_token) return bad_continuation(options.continuation);

  json::object current;
  api::QueryStats stats;
  stats.from_index = candidates.has_value();
  auto load = [&](const std::string& body) -> const json::object* {
    current = read_body(body, stats);
    return &current;
  };
  std::function<const json::object*()> next;
  std::vector<int64_t> seqs;
  size_t at = 0;
  if (!hints.reads_documents) {
    next = [] { return nullptr; };
  } else if (candidates) {
    seqs = std::move(*candidates);
    next = [&]() -> const json::object* {
      while (at < seqs.size())
        if (auto body = live_body(db, c->cid(), seqs[at++], pk_filter)) return load(*body);
      return nullptr;
    };
  }
  // Scans (no usable index predicate): one partition when the key is fixed, else the
  // container, both in (pk, id) order along the unique index.
  std::optional<SqliteDb::Query> scan;
  if (hints.reads_documents && !candidates) {
    if (pk_filter) {
      scan.emplace(db.q("SELECT body FROM doc_items WHERE cid=?1 AND pk=?2 AND expires>?3 ORDER BY id"));
      scan->bind(1, c->cid()).bind(2, *pk_filter).bind(3, db.now);
    } else {
      scan.emplace(db.q("SELECT body FROM doc_items WHERE cid=?1 AND expires>?2 ORDER BY pk, id"));
      scan->bind(1, c->cid()).bind(2, db.now);
    }
    next = [&]() -> const json::object* {
      if (!scan->step()) return nullptr;
      return load(scan->text(0));
    };
  }
  std::optional<DocResult<std::vector<json::value>>> answered;
  if (hints.count_only) {
    // SELECT VALUE COUNT(1) FROM c: the answer is the number of live rows; no body is read.
    answered.emplace(std::vector<json::value>{json::value(count_live(db, *c, pk_filter))});
  } else if (hints.reads_documents && !candidates && !pk_filter && hints.order_path && hints.take) {
    answered = ordered_by_index(db, *c, q, hints, stats);
    stats.from_index = answered.has_value();
  } else if (hints.reads_documents && !candidates && !pk_filter && hints.vector_order && hints.take) {
    answered = ordered_by_vector(db, *c, q, hints, stats);
    stats.from_index = answered.has_value();
  }
  auto rows = answered ? std::move(*answered) : q.run(next);
  scan.reset();
  if (!rows) return rows.error();
  auto& all = rows.value();
  api::Page page;
  if (offset > all.size()) return bad_continuation(options.continuation);
  size_t end = std::min(all.size(), offset + n);
  page.items.reserve(end - offset);
  // Moved when the answer ends here, copied when it is kept (every page of it can be asked again).
  for (size_t i = offset; i < end; ++i) page.items.push_back(end < all.size() ? all[i] : std::move(all[i]));
  // Unlike a read feed's, a query's exactly full last page ends the query (the SDK's
  // cross-partition tests fail on an empty page after the last results).
  if (end < all.size()) {
    std::string token = "q:" + std::to_string(end);
    if (uint64_t id = keep_answer(db, c->cid(), q_in.identity(), pk_filter && options.partition_key ? pk_filter : std::nullopt, std::move(all)))
      token += ":" + std::to_string(id);
    page.continuation = wrap_query_token(token);
  }
  stats.execution_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  page.stats = stats;
  return page;
}

namespace {
// The change feed in AllVersionsAndDeletes mode, from doc_changes (see record_change). A page
// never splits the changes of one LSN, since a continuation is an LSN. Every change has an LSN
// of its own since a partition's deletion gave each item one; files written before then may
// hold one LSN for a whole partition's deletes, which such a page returns whole.
DocResult<api::ChangeFeedPage> read_all_versions(SqliteDb& db, const ReadContainer& c, const api::ChangeFeedOptions& options,
                                                 int n, const std::string& pk_filter) {
  using Kind = api::ChangeFeedStart::Kind;
  const auto& spec = c.spec();
  if (!keeps_changes(spec))
    return bad(describe(c.ref) + " keeps no change history, so its AllVersionsAndDeletes change feed cannot be read; "
               "give it a changeFeedPolicy ({\"retentionDuration\": <minutes>}) and read from now, or use the LatestVersion mode");
  if (options.start.kind == Kind::beginning || options.start.kind == Kind::time)
    return bad("You must read the change feed from within the retention period. The AllVersionsAndDeletes change feed of " + describe(c.ref) +
               " keeps " + std::to_string(spec.change_feed_retention_minutes) +
               " minute(s) of changes and starts from now or from a continuation, not from the beginning or a point in time");
  api::ChangeFeedPage page;
  if (options.start.kind == Kind::now) {
    page.continuation_lsn = c.lsn;
    page.not_modified = true;
    return page;
  }
  int64_t after = options.start.lsn;
  if (after < 0) return bad("change feed continuation " + std::to_string(after) + " is negative; use the etag of an earlier response");
  {
    auto st = db.q("SELECT lsn FROM doc_changes_trimmed WHERE cid=?1");
    st.bind(1, c.cid());
    if (st.step() && after < st.i64(0))
      return bad("You must read the change feed from within the retention period. The changes of " + describe(c.ref) + " up to LSN " +
                 std::to_string(st.i64(0)) + " are gone (kept " + std::to_string(spec.change_feed_retention_minutes) +
                 " minute(s)), and this continuation starts at " + std::to_string(after) + "; start again from now");
  }
  static constexpr const char* kOps[] = {"", "create", "replace", "delete"};
  auto st = db.q("SELECT lsn, op, ts, prev, ttl, pk, id, body FROM doc_changes WHERE cid=?1 AND lsn>?2 AND (?3=0 OR pk=?4) ORDER BY lsn, n");
  st.bind(1, c.cid()).bind(2, after).bind(3, options.partition_key ? 1 : 0).bind(4, pk_filter);
  int64_t last = after;
  bool more = false;
  while (st.step()) {
    int64_t lsn = st.i64(0);
    if (static_cast<int>(page.items.size()) >= n && lsn != last) {
      more = true;
      break;
    }
    last = lsn;
    int64_t op = st.i64(1);
    json::object meta{{"operationType", op >= 1 && op <= 3 ? kOps[op] : "unknown"}, {"lsn", lsn}, {"crts", st.i64(2) / 1000}};
    if (st.i64(3) > 0) meta["previousImageLSN"] = st.i64(3);
    json::object change;
    if (op == kChangeDelete) {
      meta["timeToLiveExpired"] = st.i64(4) != 0;
      meta["id"] = st.text(6);
      // {path: value} per partition key path; the service's docs say "property name", which a
      // nested path (/a/b) does not settle: its key here is the path without the leading '/'.
      json::object key;
      boost::system::error_code ec;
      json::value values = json::parse(st.text(5), ec);
      for (size_t i = 0; !ec && values.is_array() && i < spec.partition_key_paths.size() && i < values.as_array().size(); ++i)
        key[spec.partition_key_paths[i].substr(1)] = values.as_array()[i];
      meta["partitionKey"] = std::move(key);
    } else {
      change["current"] = parse_body(st.text(7));
    }
    change["metadata"] = std::move(meta);
    page.items.push_back(std::move(change));
  }
  page.continuation_lsn = more ? last : std::max(after, c.lsn);
  page.not_modified = page.items.empty();
  return page;
}
}  // namespace

DocResult<api::ChangeFeedPage> read_change_feed(SqliteDb& db, const api::ContainerRef& ref, const api::ChangeFeedOptions& options) {
  auto size = page_size(options.max_item_count);
  if (auto* e = std::get_if<DocError>(&size)) return *e;
  int n = std::get<int>(size);
  auto c = load_read_container(db, ref);
  if (!c) return container_not_found(ref);
  std::string pk_filter;
  if (options.partition_key) {
    auto p = canonical_pk(*options.partition_key, *c);
    if (auto* e = std::get_if<DocError>(&p)) return *e;
    pk_filter = std::get<std::string>(p);
  }
  if (options.all_versions) return read_all_versions(db, *c, options, n, pk_filter);
  api::ChangeFeedPage page;
  using Kind = api::ChangeFeedStart::Kind;
  if (options.start.kind == Kind::now) {
    page.continuation_lsn = c->lsn;
    page.not_modified = true;
    return page;
  }
  if (options.start.kind == Kind::lsn && options.start.lsn < 0)
    return bad("change feed continuation " + std::to_string(options.start.lsn) + " is negative; use the etag of an earlier response");
  int64_t after = options.start.kind == Kind::lsn ? options.start.lsn : 0;
  int64_t since = options.start.kind == Kind::time ? options.start.time_ms : std::numeric_limits<int64_t>::min();
  // LatestVersion: one row per item holds its latest write, so "changed after L" is the rows
  // with lsn > L, in lsn order, each once.
  auto st = db.q(
      "SELECT lsn, body FROM doc_items WHERE cid=?1 AND lsn>?2 AND expires>?3 AND modified>=?4 AND (?5=0 OR pk=?6) "
      "ORDER BY lsn LIMIT ?7");
  st.bind(1, c->cid()).bind(2, after).bind(3, db.now).bind(4, since).bind(5, options.partition_key ? 1 : 0).bind(6, pk_filter).bind(7, n + 1);
  int64_t last = after;
  bool more = false;
  while (st.step()) {
    if (static_cast<int>(page.items.size()) == n) {
      more = true;
      break;
    }
    last = st.i64(0);
    page.items.push_back(parse_body(st.text(1)));
    page.items.back()["_lsn"] = last;
  }
  // With nothing left after this page, everything up to the container's LSN is covered
  // (deletes and other partitions' writes included), so the next read starts there.
  page.continuation_lsn = more ? last : std::max(after, c->lsn);
  page.not_modified = page.items.empty();
  return page;
}

DocResult<RowCounts> row_counts(SqliteDb& db, const api::ContainerRef& ref) {
  auto c = load_container(db, ref);
  if (!c) return container_not_found(ref);
  RowCounts rc;
  {
    auto st = db.q("SELECT count(*) FROM doc_items WHERE cid=?1");
    st.bind(1, c->cid);
    if (st.step()) rc.items = st.i64(0);
  }
  {
    auto st = db.q("SELECT count(*) FROM doc_index WHERE cid=?1");
    st.bind(1, c->cid);
    if (st.step()) rc.index_entries = st.i64(0);
  }
  {
    auto st = db.q("SELECT count(*) FROM doc_unique WHERE cid=?1");
    st.bind(1, c->cid);
    if (st.step()) rc.unique_entries = st.i64(0);
  }
  auto st = db.q("SELECT items FROM doc_containers WHERE cid=?1");
  st.bind(1, c->cid);
  if (st.step()) rc.counted_items = st.i64(0);
  return rc;
}

std::vector<api::ContainerItems> item_counts(SqliteDb& db) {
  std::vector<api::ContainerItems> out;
  auto st = db.q("SELECT database, name, items FROM doc_containers ORDER BY database, name");
  while (st.step()) out.push_back({api::ContainerRef{st.text(0), st.text(1)}, st.i64(2)});
  return out;
}

// Format 2 (2026-11-30): item bodies no longer hold `_lsn` (the change feed adds it from the
// row's lsn column). Older files have it in every body; it is taken out here, in slices of
// one transaction each (a crash in between leaves bodies of both kinds, which read alike).
void strip_lsn_from_bodies(SqliteDb& db) {
  int64_t after = 0;
  for (;;) {
    db.exec("BEGIN IMMEDIATE");
    try {
      std::vector<std::pair<int64_t, std::string>> rows;
      {
        auto st = db.q("SELECT seq, body FROM doc_items WHERE seq>?1 ORDER BY seq LIMIT 2048");
        st.bind(1, after);
        while (st.step()) rows.emplace_back(st.i64(0), st.text(1));
      }
      for (auto& [seq, text] : rows) {
        after = seq;
        json::object body = parse_body(text);
        if (!body.stable_erase("_lsn")) continue;  // keeps the order of the rest
        std::string stripped = json::serialize(body);  // bound without a copy: must outlive step()
        auto st = db.q("UPDATE doc_items SET body=?2 WHERE seq=?1");
        st.bind(1, seq).bind_blob(2, stripped);
        st.step();
      }
      db.exec("COMMIT");
      if (rows.size() < 2048) return;
    } catch (const SqlError&) {
      sqlite3_exec(db.conn, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
}

namespace {
// The index rows under one key prefix (fulltext_key's, vector_key's) of every container whose
// policy `wants` them, written afresh (whatever rows the prefix held go first): rows that
// earlier builds did not write (they kept the policy as given), or wrote otherwise. Format 3
// added the full-text rows, format 4 the vector rows; format 5 wrote the vector rows again.
void add_index_rows(SqliteDb& db, char prefix, bool (*wants)(const Policy&)) {
  std::vector<std::pair<int64_t, Policy>> containers;
  {
    auto st = db.q("SELECT cid, definition FROM doc_containers");
    while (st.step()) {
      boost::system::error_code ec;
      auto def = json::parse(st.text(1), ec);
      const json::value* ip = !ec && def.is_object() ? def.as_object().if_contains("indexingPolicy") : nullptr;
      if (!ip || !ip->is_object()) continue;
      Policy policy(ip->as_object());
      if (!policy.none && wants(policy)) containers.emplace_back(st.i64(0), std::move(policy));
    }
  }
  if (containers.empty()) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    const std::string first(1, prefix), past(1, static_cast<char>(prefix + 1));  // bound without a copy
    for (auto& [cid, policy] : containers) {
      auto clear = db.q("DELETE FROM doc_index WHERE cid=?1 AND path>=?2 AND path<?3");
      clear.bind(1, cid).bind(2, first).bind(3, past);
      clear.step();
      auto st = db.q("SELECT seq, body FROM doc_items WHERE cid=?1");
      st.bind(1, cid);
      while (st.step()) {
        int64_t seq = st.i64(0);
        auto entries = index_entries(parse_body(st.text(1)), policy);
        std::vector<const std::pair<std::string, std::string>*> rows;
        for (auto& e : entries)
          if (!e.first.empty() && e.first[0] == prefix) rows.push_back(&e);
        insert_index_rows(db, cid, seq, rows);
      }
    }
    db.exec("COMMIT");
  } catch (const SqlError&) {
    sqlite3_exec(db.conn, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}
}  // namespace

void migrate(SqliteDb& db, int64_t format) {
  if (format < 2) strip_lsn_from_bodies(db);
  if (format < 3) add_index_rows(db, '\x01', [](const Policy& p) { return !p.fulltext.empty(); });
  // Format 4 packed -0 as written, so a rewrite to 0 (equal JSON, no index update) could leave
  // a row that no later rewrite deletes (vector_rows): its vector rows are written again.
  if (format < 5) add_index_rows(db, '\x02', [](const Policy& p) { return !p.vectors.empty(); });
  bool has_items = false;
  {
    auto st = db.q("SELECT name FROM pragma_table_info('doc_containers')");
    while (st.step()) has_items = has_items || st.text(0) == "items";
  }
  if (has_items) return;
  // One transaction: a column added but not yet counted would pass for counted at every later
  // open (and go negative with the first deletes).
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec("ALTER TABLE doc_containers ADD COLUMN items INTEGER NOT NULL DEFAULT 0");
    db.exec("UPDATE doc_containers SET items=(SELECT count(*) FROM doc_items WHERE doc_items.cid=doc_containers.cid)");
    db.exec("COMMIT");
  } catch (const SqlError&) {
    sqlite3_exec(db.conn, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

namespace {
// changeFeedPolicy.retentionDuration of a stored container definition; 0 when absent.
int64_t retention_minutes(const json::object& def) {
  auto* cf = def.if_contains("changeFeedPolicy");
  auto* m = cf && cf->is_object() ? cf->as_object().if_contains("retentionDuration") : nullptr;
  return m && m->is_int64() ? m->as_int64() : 0;
}

// Drops the changes older than each container's retention (all of them once its policy is
// gone), oldest first, and notes per container the last LSN dropped: a continuation before it
// has lost changes, which the feed then refuses rather than skip them silently.
void trim_changes(SqliteDb& db, api::UnixMillis now) {
  std::vector<std::pair<int64_t, int64_t>> containers;  // cid, retention minutes
  {
    auto st = db.q("SELECT cid, definition FROM doc_containers");
    while (st.step()) {
      boost::system::error_code ec;
      auto def = json::parse(st.text(1), ec);
      containers.emplace_back(st.i64(0), !ec && def.is_object() ? retention_minutes(def.as_object()) : 0);
    }
  }
  for (auto [cid, minutes] : containers) {
    int64_t cutoff = minutes > 0 ? now - minutes * 60000 : std::numeric_limits<int64_t>::max();
    int64_t dropped = -1;
    {
      // Changes are in LSN order and their times rise with it: the prefix before the cutoff.
      auto st = db.q("SELECT lsn, ts FROM doc_changes WHERE cid=?1 ORDER BY lsn, n");
      st.bind(1, cid);
      while (st.step() && st.i64(1) < cutoff) dropped = st.i64(0);
    }
    if (dropped < 0) continue;
    auto del = db.q("DELETE FROM doc_changes WHERE cid=?1 AND lsn<=?2");
    del.bind(1, cid).bind(2, dropped);
    del.step();
    auto mark = db.q("INSERT INTO doc_changes_trimmed(cid, lsn) VALUES(?1,?2) ON CONFLICT(cid) DO UPDATE SET lsn=max(lsn, excluded.lsn)");
    mark.bind(1, cid).bind(2, dropped);
    mark.step();
  }
}
}  // namespace

void sweep_expired(SqliteDb& db, api::UnixMillis now, int limit) {
  db.q("BEGIN IMMEDIATE").step();
  try {
    struct Expired { int64_t seq, cid; std::string pk, body, id; int64_t lsn; };
    std::vector<Expired> rows;
    {
      auto st = db.q("SELECT seq, cid, pk, body, id, lsn FROM doc_items WHERE expires<=?1 AND expires<9223372036854775807 LIMIT ?2");
      st.bind(1, now).bind(2, limit);
      while (st.step()) rows.push_back({st.i64(0), st.i64(1), st.text(2), st.text(3), st.text(4), st.i64(5)});
    }
    std::optional<Policy> policy;
    std::vector<UniqueKey> unique_keys;
    bool keeps = false;
    int64_t policy_cid = -1;
    for (auto& r : rows) {
      if (r.cid != policy_cid) {
        auto st = db.q("SELECT definition FROM doc_containers WHERE cid=?1");
        st.bind(1, r.cid);
        policy.reset();
        unique_keys.clear();
        keeps = false;
        if (st.step()) {
          boost::system::error_code ec;
          auto def = json::parse(st.text(0), ec);
          if (!ec && def.is_object()) {
            if (auto* ip = def.as_object().if_contains("indexingPolicy"); ip && ip->is_object()) policy.emplace(ip->as_object());
            if (auto* uk = def.as_object().if_contains("uniqueKeyPolicy"); uk && uk->is_object()) unique_keys = unique_keys_of(uk->as_object());
            keeps = retention_minutes(def.as_object()) > 0;
          }
        }
        policy_cid = r.cid;
      }
      if (keeps) {
        // All versions: an expiry is a delete the feed shows (timeToLiveExpired), so it takes
        // an LSN, which the container catalog must then read again.
        auto st = db.q("UPDATE doc_containers SET lsn=lsn+1 WHERE cid=?1 RETURNING lsn");
        st.bind(1, r.cid);
        if (st.step()) record_change(db, r.cid, st.i64(0), 0, kChangeDelete, r.lsn, true, r.pk, r.id, nullptr);
        while (st.step()) {
        }
        db.doc_catalog.clear();
      }
      json::object old = parse_body(r.body);
      if (!unique_keys.empty()) remove_unique(db, r.cid, unique_keys, r.pk, r.seq, old);
      if (policy) remove_index(db, r.cid, r.seq, old, *policy);
      auto st = db.q("DELETE FROM doc_items WHERE seq=?1");
      st.bind(1, r.seq);
      st.step();
      auto count = db.q("UPDATE doc_containers SET items=items-1 WHERE cid=?1");
      count.bind(1, r.cid);
      count.step();
    }
    trim_changes(db, now);
    db.q("COMMIT").step();
    drop_idle_answers(db, now);  // an abandoned query's kept answer does not outlive its idle time by more than a sweep
  } catch (const SqlError&) {
    sqlite3_exec(db.conn, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

// --- the document parts of api::Effects --------------------------------------------------------

namespace {
api::QueueError to_queue_error(const DocError& e) {
  return api::QueueError{e.code == DocErrc::too_large ? api::QueueErrc::message_too_large
                         : e.code == DocErrc::unavailable ? api::QueueErrc::unavailable
                         : e.code == DocErrc::storage_failure ? api::QueueErrc::storage_failure
                                                              : api::QueueErrc::invalid_argument,
                         e.message};
}
std::optional<api::QueueError> check_ref(const api::ContainerRef& r) {
  if (r.database.empty() || r.container.empty())
    return api::QueueError{api::QueueErrc::invalid_argument, "a document write names no database or container (\"" + r.database + "\"/\"" + r.container +
                                                                 "\"); set the binding's databaseName and containerName"};
  return std::nullopt;
}
}  // namespace

std::optional<api::QueueError> check(const api::DocumentUpsert& w) {
  if (auto e = check_ref(w.container)) return e;
  if (auto e = check_body(w.document)) return to_queue_error(*e);
  return std::nullopt;
}

std::optional<api::QueueError> check(const api::DocumentDelete& w) {
  if (auto e = check_ref(w.container)) return e;
  if (auto e = api::check_item_id(w.id); !e.empty()) return api::QueueError{api::QueueErrc::invalid_argument, "item id \"" + w.id + "\" " + e};
  return std::nullopt;
}

std::variant<api::WriteReceipt, api::QueueError> apply(SqliteDb& db, const api::DocumentUpsert& w) {
  auto r = write_item(db, WriteMode::upsert, w.container, w.partition_key, w.document, nullptr, std::nullopt);
  if (!r) return to_queue_error(r.error());
  auto& item = r.value();
  return api::WriteReceipt(api::DocumentReceipt{std::string(item.document.at("id").as_string()), item.etag, item.lsn, item.created});
}

std::variant<api::WriteReceipt, api::QueueError> apply(SqliteDb& db, const api::DocumentDelete& w) {
  auto r = delete_item(db, w.container, w.id, w.partition_key, std::nullopt);
  if (!r) return to_queue_error(r.error());
  return api::WriteReceipt(api::DocumentReceipt{w.id, "", r.value(), false});
}

std::optional<api::QueueError> check(const api::LeaseAdvance& a) {
  if (auto e = check_ref(a.container)) return e;
  auto* id = a.lease.if_contains("id");
  if (!id || !id->is_string())
    return api::QueueError{api::QueueErrc::invalid_argument, "a lease document has no string \"id\""};
  if (auto e = check_body(a.lease)) return to_queue_error(*e);
  return std::nullopt;
}

std::variant<api::DocumentReceipt, api::QueueError> apply(SqliteDb& db, const api::LeaseAdvance& a) {
  std::string id(a.lease.at("id").as_string());
  auto r = write_item(db, WriteMode::replace, a.container, a.partition_key, a.lease, &id, a.if_match);
  if (!r) {
    auto e = to_queue_error(r.error());
    if (r.error().code == DocErrc::precondition_failed) e.code = api::QueueErrc::pop_receipt_mismatch;
    if (r.error().code == DocErrc::not_found) e.code = api::QueueErrc::message_not_found;
    return e;
  }
  return api::DocumentReceipt{id, r.value().etag, r.value().lsn, false};
}

}  // namespace nimbus::storage::document_tables
