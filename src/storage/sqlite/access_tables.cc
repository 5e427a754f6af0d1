#include "storage/sqlite/access_tables.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "common/ascii.h"
#include "storage/sqlite/document_tables.h"

namespace nimbus::storage::access_tables {

namespace json = boost::json;
using api::AccessInfo;
using api::AccessWrite;
using api::DocErrc;
using api::DocError;

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS doc_users(
  uid INTEGER PRIMARY KEY AUTOINCREMENT,
  dbid INTEGER NOT NULL,
  id TEXT NOT NULL,
  etag TEXT NOT NULL,
  ts INTEGER NOT NULL,
  UNIQUE(dbid, id));
CREATE TABLE IF NOT EXISTS doc_permissions(
  pid INTEGER PRIMARY KEY AUTOINCREMENT,
  uid INTEGER NOT NULL,
  id TEXT NOT NULL,
  mode TEXT NOT NULL,
  resource TEXT NOT NULL,
  link TEXT NOT NULL,
  pk TEXT NOT NULL,
  scope TEXT NOT NULL,
  etag TEXT NOT NULL,
  ts INTEGER NOT NULL,
  UNIQUE(uid, id));
)sql";

namespace {

using document_tables::be32;
using document_tables::be64;
using document_tables::db_rid;
using document_tables::quoted_uuid;
using document_tables::rid_of;

DocError bad(std::string m) { return DocError{DocErrc::bad_request, std::move(m)}; }

std::optional<int64_t> database_id(SqliteDb& db, const std::string& database) {
  auto st = db.q("SELECT dbid FROM doc_databases WHERE name=?1");
  st.bind(1, database);
  if (!st.step()) return std::nullopt;
  return st.i64(0);
}
DocError no_database(const std::string& database) {
  return DocError{DocErrc::not_found, "database \"" + database + "\" does not exist; create it first (POST /dbs)"};
}

struct UserRow {
  int64_t uid = 0;
  std::string etag;
  int64_t ts = 0;
};
std::optional<UserRow> user_row(SqliteDb& db, int64_t dbid, const std::string& id) {
  auto st = db.q("SELECT uid, etag, ts FROM doc_users WHERE dbid=?1 AND id=?2");
  st.bind(1, dbid).bind(2, id);
  if (!st.step()) return std::nullopt;
  return UserRow{st.i64(0), st.text(1), st.i64(2)};
}
DocError no_user(const std::string& database, const std::string& id) {
  return DocError{DocErrc::not_found, "user \"" + id + "\" of database \"" + database +
                                          "\" does not exist; create it first (POST /dbs/" + database + "/users)"};
}

// A permission's database and user, both of which must exist.
struct Owner {
  int64_t dbid = 0;
  int64_t uid = 0;
};
DocResult<Owner> owner_of(SqliteDb& db, const std::string& database, const std::string& user) {
  auto dbid = database_id(db, database);
  if (!dbid) return no_database(database);
  auto row = user_row(db, *dbid, user);
  if (!row) return no_user(database, user);
  return Owner{*dbid, row->uid};
}

std::string user_rid(int64_t dbid, int64_t uid) {
  return rid_of(be32(static_cast<uint32_t>(dbid)) + be32(static_cast<uint32_t>(uid)));
}

AccessInfo user_info(int64_t dbid, int64_t uid, const std::string& id, const std::string& etag, int64_t ts) {
  std::string rid = user_rid(dbid, uid);
  return AccessInfo{json::object{{"id", id}, {"_rid", rid}, {"_self", "dbs/" + db_rid(dbid) + "/users/" + rid + "/"},
                                 {"_etag", etag}, {"_ts", ts}, {"_permissions", "permissions/"}}};
}

// The body's "id", checked as the service checks resource ids.
DocResult<std::string> body_id(const json::object& body, const char* kind) {
  auto it = body.find("id");
  if (it == body.end() || !it->value().is_string())
    return bad(std::string("the ") + kind + " body has no string \"id\"; send {\"id\": \"name\", ...}");
  std::string id(it->value().as_string());
  if (auto e = api::check_resource_id(id); !e.empty()) return bad(std::string(kind) + " id \"" + id + "\" " + e);
  return id;
}

// The target of a write: the existing row to replace (none: insert), after the create /
// upsert / replace rules and If-Match. `current` is the row named by the URL (replace) or by
// the body's id (create, upsert); `taken` tells whether the body's id names another row.
template <class Row>
DocResult<std::optional<Row>> write_target(AccessWrite how, std::optional<Row> current, bool taken,
                                           const std::optional<std::string>& if_match, const std::string& what,
                                           const std::string& new_id) {
  if (how == AccessWrite::create && current)
    return DocError{DocErrc::conflict, what + " already exists; replace it (PUT) or delete it first"};
  if (how == AccessWrite::replace && !current) return DocError{DocErrc::not_found, what + " does not exist; create it first"};
  if (current && if_match && *if_match != current->etag)
    return DocError{DocErrc::precondition_failed, what + " has changed since its _etag " + *if_match + " was read; read it again"};
  if (taken) return DocError{DocErrc::conflict, "the new id \"" + new_id + "\" is already taken; pick another or delete that one first"};
  return current;
}

// --- permissions ---

struct PermissionRow {
  int64_t pid = 0;
  std::string id, mode, resource, pk, etag;
  int64_t ts = 0;
};
std::optional<PermissionRow> permission_row(SqliteDb& db, int64_t uid, const std::string& id) {
  auto st = db.q("SELECT pid, mode, resource, pk, etag, ts FROM doc_permissions WHERE uid=?1 AND id=?2");
  st.bind(1, uid).bind(2, id);
  if (!st.step()) return std::nullopt;
  return PermissionRow{st.i64(0), id, st.text(1), st.text(2), st.text(3), st.text(4), st.i64(5)};
}

AccessInfo permission_info(int64_t dbid, int64_t uid, const PermissionRow& p) {
  std::string urid = user_rid(dbid, uid);
  std::string rid = rid_of(be32(static_cast<uint32_t>(dbid)) + be32(static_cast<uint32_t>(uid)) +
                           be64(static_cast<uint64_t>(p.pid)));
  json::object o{{"id", p.id}, {"permissionMode", p.mode}, {"resource", p.resource}};
  if (!p.pk.empty()) o["resourcePartitionKey"] = json::parse(p.pk);
  o["_rid"] = rid;
  o["_self"] = "dbs/" + db_rid(dbid) + "/users/" + urid + "/permissions/" + rid + "/";
  o["_etag"] = p.etag;
  o["_ts"] = p.ts;
  return AccessInfo{std::move(o), p.pid};
}

std::vector<std::string> split_link(std::string_view link) {
  while (!link.empty() && link.front() == '/') link.remove_prefix(1);
  while (!link.empty() && link.back() == '/') link.remove_suffix(1);
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= link.size()) {
    size_t slash = link.find('/', start);
    out.emplace_back(link.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

// A permission's `resource` (ids or _self rids: "dbs/{db}/colls/{coll}[/docs/{id}]") as a name
// link within database `dbid`, and for an item the partition it lives in (ids are unique only
// within a partition, so an item's grant is bound to one). The container must exist; an item
// must exist unless its partition is given (`given_pk`, canonical), and an id that lives in
// several partitions needs it.
struct Resolved {
  std::string link;
  std::string item_pk;  // an item's canonical partition key text ("[\"p1\"]"); empty: a container
};
DocResult<Resolved> resolve_resource(SqliteDb& db, int64_t dbid, const std::string& database,
                                     const std::string& resource, const std::string& given_pk) {
  auto s = split_link(resource);
  bool shape = (s.size() == 4 || s.size() == 6) && s[0] == "dbs" && s[2] == "colls" && (s.size() == 4 || s[4] == "docs");
  for (auto& seg : s) shape = shape && !seg.empty();
  if (!shape)
    return bad("permission resource \"" + resource + "\" must name a container (dbs/{db}/colls/{coll}) or an item "
               "(dbs/{db}/colls/{coll}/docs/{id}), by ids or by the resource's _self");
  if (s[1] != database && s[1] != db_rid(dbid))
    return bad("permission resource \"" + resource + "\" is outside database \"" + database +
               "\"; a permission grants access within its user's database");
  std::optional<std::pair<int64_t, std::string>> container;
  {
    auto st = db.q("SELECT cid, name FROM doc_containers WHERE dbid=?1");
    st.bind(1, dbid);
    while (st.step() && !container) {
      int64_t cid = st.i64(0);
      std::string name = st.text(1);
      if (name == s[3] || rid_of(be32(static_cast<uint32_t>(dbid)) + be32(static_cast<uint32_t>(cid))) == s[3])
        container.emplace(cid, std::move(name));
    }
  }
  if (!container)
    return DocError{DocErrc::not_found, "permission resource \"" + resource + "\": container \"" + s[3] +
                                            "\" does not exist in database \"" + database + "\"; create it first"};
  std::string link = "dbs/" + database + "/colls/" + container->second;
  if (s.size() == 4) return Resolved{link, ""};
  // By _rid (a scan of one container, once per permission write), else by id; live items only.
  std::vector<std::pair<std::string, std::string>> found;  // id, pk
  {
    auto st = db.q("SELECT id, pk FROM doc_items WHERE cid=?1 AND rid=?2 AND expires>?3 LIMIT 1");
    st.bind(1, container->first).bind(2, s[5]).bind(3, db.now);
    if (st.step()) found.emplace_back(st.text(0), st.text(1));
  }
  if (found.empty()) {
    auto st = db.q("SELECT id, pk FROM doc_items WHERE cid=?1 AND id=?2 AND expires>?3 LIMIT 2");
    st.bind(1, container->first).bind(2, s[5]).bind(3, db.now);
    while (st.step()) found.emplace_back(st.text(0), st.text(1));
  }
  if (!given_pk.empty()) {
    std::string id = found.size() == 1 && found[0].second == given_pk ? found[0].first : s[5];
    return Resolved{link + "/docs/" + id, given_pk};
  }
  if (found.empty())
    return DocError{DocErrc::not_found, "permission resource \"" + resource + "\": no item \"" + s[5] + "\" in " + link +
                                            "; create it first, or give its partition key in resourcePartitionKey"};
  if (found.size() > 1)
    return bad("permission resource \"" + resource + "\": items with id \"" + s[5] + "\" exist in several partitions of " + link +
               "; name one by its _self or give its partition key in resourcePartitionKey");
  return Resolved{link + "/docs/" + found[0].first, found[0].second};
}

// "Read" or "All" for a mode in any letter case; nullopt for anything else.
std::optional<std::string> canonical_mode(std::string_view m) {
  if (ascii_iequals(m, "read")) return "Read";
  if (ascii_iequals(m, "all")) return "All";
  return std::nullopt;
}

// The fields of a permission body other than its id: mode, resource, partition key.
struct PermissionFields {
  std::string mode, resource, link;
  std::string pk;     // resourcePartitionKey as given (JSON), answered as given; empty: none
  std::string scope;  // the partition the grant is bound to (canonical JSON array); empty: all
};
DocResult<PermissionFields> permission_fields(SqliteDb& db, int64_t dbid, const std::string& database,
                                              const json::object& body) {
  PermissionFields f;
  auto mode = body.find("permissionMode");
  if (mode == body.end() || !mode->value().is_string())
    return bad("the permission body has no string \"permissionMode\"; send \"Read\" or \"All\"");
  // Kept as given and answered so ("all" from the SDK's PermissionMode enum, "All" from the
  // REST documentation's examples); read_grant reads it case-insensitively.
  f.mode = std::string(mode->value().as_string());
  if (!canonical_mode(f.mode))
    return bad("permissionMode \"" + f.mode + "\" is not one of \"Read\" and \"All\"");
  auto res = body.find("resource");
  if (res == body.end() || !res->value().is_string())
    return bad("the permission body has no string \"resource\"; send the container's or item's link, "
               "e.g. \"dbs/{db}/colls/{coll}\"");
  f.resource = std::string(res->value().as_string());
  if (auto pk = body.find("resourcePartitionKey"); pk != body.end() && !pk->value().is_null()) {
    const json::value& v = pk->value();
    bool scalar = v.is_string() || v.is_number() || v.is_bool();
    bool ok = scalar || (v.is_array() && !v.as_array().empty());
    if (ok && v.is_array())
      for (auto& c : v.as_array()) ok = ok && (c.is_string() || c.is_number() || c.is_bool() || c.is_null());
    if (!ok)
      return bad("resourcePartitionKey must be a partition key value or an array of them (e.g. [\"p1\"]); got " +
                 json::serialize(v));
    f.pk = json::serialize(v);
    // As x-ms-documentdb-partitionkey carries it: an array, also for a scalar given alone.
    f.scope = json::serialize(v.is_array() ? v : json::value(json::array{v}));
  }
  auto resolved = resolve_resource(db, dbid, database, f.resource, f.scope);
  if (!resolved) return resolved.error();
  f.link = std::move(resolved.value().link);
  if (f.scope.empty()) f.scope = std::move(resolved.value().item_pk);
  return f;
}

}  // namespace

// --- users ---

DocResult<AccessInfo> write_user(SqliteDb& db, const std::string& database, AccessWrite how, const std::string& id,
                                 const json::object& body, const std::optional<std::string>& if_match) {
  auto new_id = body_id(body, "user");
  if (!new_id) return new_id.error();
  auto dbid = database_id(db, database);
  if (!dbid) return no_database(database);
  const std::string& named = how == AccessWrite::replace ? id : new_id.value();
  auto current = user_row(db, *dbid, named);
  bool taken = how == AccessWrite::replace && new_id.value() != id && user_row(db, *dbid, new_id.value());
  auto target = write_target(how, std::move(current), taken, if_match,
                             "user \"" + named + "\" of database \"" + database + "\"", new_id.value());
  if (!target) return target.error();
  std::string etag = quoted_uuid();
  int64_t ts = db.now / 1000;
  if (auto& row = target.value()) {
    auto st = db.q("UPDATE doc_users SET id=?2, etag=?3, ts=?4 WHERE uid=?1");
    st.bind(1, row->uid).bind(2, new_id.value()).bind(3, etag).bind(4, ts);
    st.step();
    return user_info(*dbid, row->uid, new_id.value(), etag, ts);
  }
  auto st = db.q("INSERT INTO doc_users(dbid, id, etag, ts) VALUES(?1,?2,?3,?4)");
  st.bind(1, *dbid).bind(2, new_id.value()).bind(3, etag).bind(4, ts);
  st.step();
  AccessInfo info = user_info(*dbid, sqlite3_last_insert_rowid(db.conn), new_id.value(), etag, ts);
  info.created = true;
  return info;
}

DocResult<AccessInfo> read_user(SqliteDb& db, const std::string& database, const std::string& id) {
  auto dbid = database_id(db, database);
  if (!dbid) return no_database(database);
  auto row = user_row(db, *dbid, id);
  if (!row) return no_user(database, id);
  return user_info(*dbid, row->uid, id, row->etag, row->ts);
}

DocResult<std::vector<AccessInfo>> list_users(SqliteDb& db, const std::string& database) {
  auto dbid = database_id(db, database);
  if (!dbid) return no_database(database);
  std::vector<AccessInfo> out;
  auto st = db.q("SELECT uid, id, etag, ts FROM doc_users WHERE dbid=?1 ORDER BY uid");
  st.bind(1, *dbid);
  while (st.step()) out.push_back(user_info(*dbid, st.i64(0), st.text(1), st.text(2), st.i64(3)));
  return out;
}

DocResult<void> delete_user(SqliteDb& db, const std::string& database, const std::string& id) {
  auto dbid = database_id(db, database);
  if (!dbid) return no_database(database);
  auto row = user_row(db, *dbid, id);
  if (!row) return no_user(database, id);
  auto perms = db.q("DELETE FROM doc_permissions WHERE uid=?1");
  perms.bind(1, row->uid);
  perms.step();
  auto st = db.q("DELETE FROM doc_users WHERE uid=?1");
  st.bind(1, row->uid);
  st.step();
  return {};
}

void delete_container_permissions(SqliteDb& db, const std::string& database, const std::string& container) {
  // The container's own grants and its items' (links "dbs/d/colls/c" and "dbs/d/colls/c/docs/...").
  std::string link = "dbs/" + database + "/colls/" + container, below = link + "/";
  auto st = db.q("DELETE FROM doc_permissions WHERE link=?1 OR substr(link, 1, length(?2))=?2");
  st.bind(1, link).bind(2, below);
  st.step();
}

void delete_database_users(SqliteDb& db, const std::string& database) {
  auto dbid = database_id(db, database);
  if (!dbid) return;
  auto perms = db.q("DELETE FROM doc_permissions WHERE uid IN (SELECT uid FROM doc_users WHERE dbid=?1)");
  perms.bind(1, *dbid);
  perms.step();
  auto st = db.q("DELETE FROM doc_users WHERE dbid=?1");
  st.bind(1, *dbid);
  st.step();
}

// --- permissions ---

DocResult<AccessInfo> write_permission(SqliteDb& db, const std::string& database, const std::string& user,
                                       AccessWrite how, const std::string& id, const json::object& body,
                                       const std::optional<std::string>& if_match) {
  auto new_id = body_id(body, "permission");
  if (!new_id) return new_id.error();
  auto owner = owner_of(db, database, user);
  if (!owner) return owner.error();
  const int64_t dbid = owner.value().dbid, uid = owner.value().uid;
  auto fields = permission_fields(db, dbid, database, body);
  if (!fields) return fields.error();
  const std::string& named = how == AccessWrite::replace ? id : new_id.value();
  auto current = permission_row(db, uid, named);
  bool taken = how == AccessWrite::replace && new_id.value() != id && permission_row(db, uid, new_id.value());
  auto target = write_target(how, std::move(current), taken, if_match,
                             "permission \"" + named + "\" of user \"" + user + "\"", new_id.value());
  if (!target) return target.error();
  PermissionRow p{0, new_id.value(), fields.value().mode, fields.value().resource, fields.value().pk, quoted_uuid(), db.now / 1000};
  const std::string& link = fields.value().link;
  const std::string& scope = fields.value().scope;
  if (auto& row = target.value()) {
    p.pid = row->pid;
    auto st = db.q("UPDATE doc_permissions SET id=?2, mode=?3, resource=?4, link=?5, pk=?6, etag=?7, ts=?8, scope=?9 WHERE pid=?1");
    st.bind(1, p.pid).bind(2, p.id).bind(3, p.mode).bind(4, p.resource).bind(5, link).bind(6, p.pk).bind(7, p.etag).bind(8, p.ts).bind(9, scope);
    st.step();
    return permission_info(dbid, uid, p);
  }
  auto st = db.q("INSERT INTO doc_permissions(uid, id, mode, resource, link, pk, etag, ts, scope) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)");
  st.bind(1, uid).bind(2, p.id).bind(3, p.mode).bind(4, p.resource).bind(5, link).bind(6, p.pk).bind(7, p.etag).bind(8, p.ts).bind(9, scope);
  st.step();
  p.pid = sqlite3_last_insert_rowid(db.conn);
  AccessInfo info = permission_info(dbid, uid, p);
  info.created = true;
  return info;
}

DocResult<AccessInfo> read_permission(SqliteDb& db, const std::string& database, const std::string& user,
                                      const std::string& id) {
  auto owner = owner_of(db, database, user);
  if (!owner) return owner.error();
  const int64_t dbid = owner.value().dbid, uid = owner.value().uid;
  auto row = permission_row(db, uid, id);
  if (!row)
    return DocError{DocErrc::not_found, "permission \"" + id + "\" of user \"" + user + "\" does not exist; create it first"};
  return permission_info(dbid, uid, *row);
}

DocResult<std::vector<AccessInfo>> list_permissions(SqliteDb& db, const std::string& database, const std::string& user) {
  auto owner = owner_of(db, database, user);
  if (!owner) return owner.error();
  const int64_t dbid = owner.value().dbid, uid = owner.value().uid;
  std::vector<AccessInfo> out;
  auto st = db.q("SELECT pid, id, mode, resource, pk, etag, ts FROM doc_permissions WHERE uid=?1 ORDER BY pid");
  st.bind(1, uid);
  while (st.step())
    out.push_back(permission_info(dbid, uid,
                                  PermissionRow{st.i64(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), st.i64(6)}));
  return out;
}

DocResult<void> delete_permission(SqliteDb& db, const std::string& database, const std::string& user,
                                  const std::string& id) {
  auto owner = owner_of(db, database, user);
  if (!owner) return owner.error();
  const int64_t dbid = owner.value().dbid, uid = owner.value().uid;
  auto st = db.q("DELETE FROM doc_permissions WHERE uid=?1 AND id=?2");
  st.bind(1, uid).bind(2, id);
  st.step();
  if (db.changes() == 0)
    return DocError{DocErrc::not_found, "permission \"" + id + "\" of user \"" + user + "\" does not exist"};
  return {};
}

DocResult<api::PermissionGrant> read_grant(SqliteDb& db, int64_t permission) {
  auto st = db.q(
      "SELECT d.name, p.mode, p.link, p.scope FROM doc_permissions p JOIN doc_users u ON u.uid=p.uid "
      "JOIN doc_databases d ON d.dbid=u.dbid WHERE p.pid=?1");
  st.bind(1, permission);
  if (!st.step())
    return DocError{DocErrc::not_found, "the permission this resource token was issued for no longer exists"};
  return api::PermissionGrant{st.text(0), canonical_mode(st.text(1)).value_or("Read"), st.text(2), st.text(3)};
}

}  // namespace nimbus::storage::access_tables
