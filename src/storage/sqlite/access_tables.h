#pragma once
// Users and permissions of the document domain (api::AccessInfo) on the storage engine: their
// tables and operations. A permission's resource is resolved to a name link when it is written
// (a client may give the container's or item's _self), so checking a request made with its
// resource token is one lookup (read_grant) and a string comparison.
//
// Tables:
// - doc_users (uid, dbid, id, etag, ts): unique on (dbid, id); uid is never reused, so a user's
//   _rid (database rid bytes + uid) stays its own across renames and re-creations.
// - doc_permissions (pid, uid, id, mode, resource as given, resolved link, partition key as
//   given, etag, ts): unique on (uid, id); pid is what a resource token names, never reused,
//   so a token of a deleted permission cannot come back to life on a new one.
//
// Threading: as document_tables: on the engine's writer thread, inside its batch transaction;
// every operation checks before its first write.
#include <optional>
#include <string>
#include <vector>

#include "api/document_store.h"
#include "storage/sqlite/sqlite_db.h"

namespace nimbus::storage::access_tables {

extern const char* const kSchema;

using api::DocResult;

DocResult<api::AccessInfo> write_user(SqliteDb& db, const std::string& database, api::AccessWrite how,
                                      const std::string& id, const boost::json::object& body,
                                      const std::optional<std::string>& if_match);
DocResult<api::AccessInfo> read_user(SqliteDb& db, const std::string& database, const std::string& id);
DocResult<std::vector<api::AccessInfo>> list_users(SqliteDb& db, const std::string& database);
DocResult<void> delete_user(SqliteDb& db, const std::string& database, const std::string& id);

DocResult<api::AccessInfo> write_permission(SqliteDb& db, const std::string& database,
                                            const std::string& user, api::AccessWrite how,
                                            const std::string& id, const boost::json::object& body,
                                            const std::optional<std::string>& if_match);
DocResult<api::AccessInfo> read_permission(SqliteDb& db, const std::string& database,
                                           const std::string& user, const std::string& id);
DocResult<std::vector<api::AccessInfo>> list_permissions(SqliteDb& db, const std::string& database,
                                                         const std::string& user);
DocResult<void> delete_permission(SqliteDb& db, const std::string& database, const std::string& user,
                                  const std::string& id);

DocResult<api::PermissionGrant> read_grant(SqliteDb& db, int64_t permission);

// Part of deleting a container (document_tables::delete_container): the permissions on it and
// on its items, so a container re-created under the name is not opened by the old tokens.
void delete_container_permissions(SqliteDb& db, const std::string& database, const std::string& container);

// Part of deleting a database (document_tables::delete_database): its users and their
// permissions.
void delete_database_users(SqliteDb& db, const std::string& database);

}  // namespace nimbus::storage::access_tables
