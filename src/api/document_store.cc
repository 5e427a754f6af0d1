#include "api/document_store.h"

#include <initializer_list>

#include <boost/json/serialize.hpp>

#include "common/ascii.h"

namespace nimbus::api {

namespace json = boost::json;

namespace {

DocError bad(std::string message) { return DocError{DocErrc::bad_request, std::move(message)}; }

// A partition key path: "/name" or nested "/a/b", each segment non-empty.
std::string check_pk_path(const json::value& v) {
  if (!v.is_string()) return "is not a string; write it as \"/property\"";
  std::string_view p = v.as_string();
  if (p.size() < 2 || p.front() != '/')
    return "\"" + std::string(p) + "\" does not start with '/' and a property name; write it as \"/property\" or \"/a/b\"";
  if (p.back() == '/' || p.find("//") != std::string_view::npos)
    return "\"" + std::string(p) + "\" has an empty segment; write it as \"/property\" or \"/a/b\"";
  return "";
}

// Index policy paths: "/*", "/a/?", "/a/*", "/\"_etag\"/?", "/tags/[]/?".
std::string check_index_paths(const json::object& policy, const char* key) {
  auto it = policy.find(key);
  if (it == policy.end()) return "";
  if (!it->value().is_array()) return std::string("indexingPolicy.") + key + " is not an array of {\"path\": ...}";
  for (const auto& e : it->value().as_array()) {
    const json::value* p = e.is_object() ? e.as_object().if_contains("path") : nullptr;
    if (!p || !p->is_string() || p->as_string().empty() || p->as_string()[0] != '/')
      return std::string("indexingPolicy.") + key + " has an entry " + json::serialize(e) +
             " without a \"path\" starting with '/'; write {\"path\": \"/property/*\"}";
    std::string_view s = p->as_string();
    if (!(s.ends_with("/*") || s.ends_with("/?")))
      return std::string("indexingPolicy.") + key + " path \"" + std::string(s) +
             "\" must end with \"/*\" (the path and everything below) or \"/?\" (the value at the path)";
  }
  return "";
}

}  // namespace

std::string Throughput::check() const {
  if ((manual > 0) == (autoscale_max > 0))
    return "give either a manual throughput or an autoscale maximum, not both or neither";
  if (manual > 0 && (manual < 400 || manual % 100 != 0 || manual > 1'000'000))
    return "throughput " + std::to_string(manual) +
           " RU/s is not a multiple of 100 from 400 to 1,000,000; give e.g. 400";
  if (autoscale_max > 0 && (autoscale_max < 1000 || autoscale_max % 1000 != 0 || autoscale_max > 1'000'000))
    return "autoscale maxThroughput " + std::to_string(autoscale_max) +
           " RU/s is not a multiple of 1,000 from 1,000 to 1,000,000; give e.g. 4000";
  return "";
}

DocResult<ContainerSpec> ContainerSpec::from_json(const json::object& body) {
  ContainerSpec spec;
  const json::value* id = body.if_contains("id");
  if (!id || !id->is_string()) return bad("the container body has no string \"id\"; send {\"id\": \"<name>\", \"partitionKey\": {\"paths\": [\"/pk\"]}}");
  spec.id = std::string(id->as_string());
  if (auto e = check_resource_id(spec.id); !e.empty()) return bad("container id \"" + spec.id + "\" " + e);

  if (const json::value* pk = body.if_contains("partitionKey"); pk && !pk->is_null()) {
    if (!pk->is_object()) return bad("container \"" + spec.id + "\": partitionKey is not an object; send {\"paths\": [\"/pk\"], \"kind\": \"Hash\"}");
    const auto& o = pk->as_object();
    const json::value* paths = o.if_contains("paths");
    if (!paths || !paths->is_array() || paths->as_array().empty())
      return bad("container \"" + spec.id + "\": partitionKey.paths must be a non-empty array such as [\"/pk\"]");
    if (paths->as_array().size() > 3)
      return bad("container \"" + spec.id + "\": partitionKey.paths has " + std::to_string(paths->as_array().size()) + " paths; hierarchical keys have at most 3");
    for (const auto& p : paths->as_array()) {
      if (auto e = check_pk_path(p); !e.empty())
        // The service's sentence first (the SDK's tests match it), then which and the fix.
        return bad("The partition key component definition path '" + (p.is_string() ? std::string(p.as_string()) : json::serialize(p)) +
                   "' could not be accepted. Container \"" + spec.id + "\": partition key path " + e);
      spec.partition_key_paths.emplace_back(p.as_string());
    }
    if (const json::value* kind = o.if_contains("kind")) {
      if (!kind->is_string() || (kind->as_string() != "Hash" && kind->as_string() != "MultiHash"))
        return bad("container \"" + spec.id + "\": partitionKey.kind must be \"Hash\" or \"MultiHash\"");
      spec.partition_key_kind = std::string(kind->as_string());
    } else if (spec.partition_key_paths.size() > 1) {
      spec.partition_key_kind = "MultiHash";
    }
    if (spec.partition_key_paths.size() > 1 && spec.partition_key_kind != "MultiHash")
      return bad("container \"" + spec.id + "\": several partition key paths need partitionKey.kind \"MultiHash\"");
    if (const json::value* ver = o.if_contains("version"); ver && !ver->is_null()) {
      if (!ver->is_int64() || (ver->as_int64() != 1 && ver->as_int64() != 2))
        return bad("container \"" + spec.id + "\": partitionKey.version must be 1 or 2");
      spec.partition_key_version = static_cast<int>(ver->as_int64());
    }
  }

  if (const json::value* ttl = body.if_contains("defaultTtl"); ttl && !ttl->is_null()) {
    if (!ttl->is_int64() || (ttl->as_int64() != -1 && ttl->as_int64() <= 0))
      return bad("container \"" + spec.id + "\": defaultTtl " + json::serialize(*ttl) +
                 " is invalid; use -1 (items expire only with their own ttl), a number of seconds > 0, or leave it out (never expire)");
    spec.default_ttl = ttl->as_int64();
  }

  if (const json::value* cf = body.if_contains("changeFeedPolicy"); cf && !cf->is_null()) {
    const json::value* minutes = cf->is_object() ? cf->as_object().if_contains("retentionDuration") : nullptr;
    if (!minutes || !minutes->is_int64() || minutes->as_int64() < 0 || minutes->as_int64() > kMaxChangeFeedRetentionMinutes)
      return bad("container \"" + spec.id + "\": changeFeedPolicy must be {\"retentionDuration\": <minutes>} with 0 to " +
                 std::to_string(kMaxChangeFeedRetentionMinutes) + " minutes (0: no all-versions change feed); got " +
                 json::serialize(*cf));
    spec.change_feed_retention_minutes = minutes->as_int64();
  }

  json::object policy;
  if (const json::value* ip = body.if_contains("indexingPolicy"); ip && !ip->is_null()) {
    if (!ip->is_object()) return bad("container \"" + spec.id + "\": indexingPolicy is not an object");
    policy = ip->as_object();
  }
  if (!policy.contains("indexingMode")) policy["indexingMode"] = "consistent";
  if (const auto& m = policy["indexingMode"]; !m.is_string() || (m.as_string() != "consistent" && m.as_string() != "none" && m.as_string() != "lazy"))
    return bad("container \"" + spec.id + "\": indexingPolicy.indexingMode must be \"consistent\" or \"none\"");
  if (!policy.contains("automatic")) policy["automatic"] = true;
  // The legacy root path "/" means "/*" (the SDK's older tests create containers with it;
  // unsure whether the service echoes "/" or "/*": this echoes "/*").
  for (const char* key : {"includedPaths", "excludedPaths"})
    if (auto* a = policy.if_contains(key); a && a->is_array())
      for (auto& e : a->as_array())
        if (auto* o = e.if_object(); o && o->contains("path") && o->at("path") == "/") (*o)["path"] = "/*";
  // The service keeps /"_etag"/? out of the index whatever the policy says and lists it among
  // the excluded paths it answers with (so the default is that path alone).
  if (!policy.contains("excludedPaths")) policy["excludedPaths"] = json::array{};
  if (auto* a = policy.if_contains("excludedPaths"); a && a->is_array()) {
    bool listed = false;
    for (auto& e : a->as_array())
      if (auto* o = e.if_object(); o && o->contains("path") && o->at("path") == "/\"_etag\"/?") listed = true;
    if (!listed) a->as_array().push_back(json::object{{"path", "/\"_etag\"/?"}});
  }
  if (!policy.contains("includedPaths")) policy["includedPaths"] = json::array{json::object{{"path", "/*"}}};
  for (const char* key : {"includedPaths", "excludedPaths"})
    if (auto e = check_index_paths(policy, key); !e.empty()) return bad("container \"" + spec.id + "\": " + e);
  spec.indexing_policy = std::move(policy);

  // vectorEmbeddingPolicy: kept and answered as given after its fields are checked; each
  // indexingPolicy.vectorIndexes path must be one of its embeddings (the service's check).
  // VectorDistance computes exactly over every item (no vector index is built).
  if (const json::value* vp = body.if_contains("vectorEmbeddingPolicy"); vp && !vp->is_null()) {
    const json::array* list = vp->is_object() && vp->as_object().contains("vectorEmbeddings") &&
                                      vp->as_object().at("vectorEmbeddings").is_array()
                                  ? &vp->as_object().at("vectorEmbeddings").as_array()
                                  : nullptr;
    if (!list)
      return bad("container \"" + spec.id + "\": vectorEmbeddingPolicy must be {\"vectorEmbeddings\": [{\"path\", \"dataType\", \"dimensions\", \"distanceFunction\"}]}");
    for (const auto& e : *list) {
      const json::object* o = e.if_object();
      auto text = [&](const char* k) -> std::string {
        const json::value* v = o ? o->if_contains(k) : nullptr;
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
      };
      auto one_of = [](const std::string& t, std::initializer_list<std::string_view> names) {
        for (auto n : names)
          if (ascii_iequals(t, n)) return true;
        return false;
      };
      const json::value* dims = o ? o->if_contains("dimensions") : nullptr;
      std::string path = text("path"), type = text("dataType"), fn = text("distanceFunction");
      if (path.size() < 2 || path[0] != '/' || !dims || !dims->is_int64() || dims->as_int64() < 1 ||
          dims->as_int64() > kMaxVectorDimensions || !one_of(type, {"float32", "float16", "int8", "uint8"}) ||
          !one_of(fn, {"cosine", "dotproduct", "euclidean"}))
        return bad("container \"" + spec.id + "\": vector embedding " + json::serialize(e) +
                   " needs a path (\"/vector\"), dataType float32, float16, int8 or uint8, dimensions 1 to " +
                   std::to_string(kMaxVectorDimensions) + " and distanceFunction cosine, dotproduct or euclidean");
    }
    spec.vector_embedding_policy = vp->as_object();
  }
  if (const json::value* vi = spec.indexing_policy.if_contains("vectorIndexes"); vi && !vi->is_null()) {
    if (!vi->is_array()) return bad("container \"" + spec.id + "\": indexingPolicy.vectorIndexes must be an array of {\"path\", \"type\"}");
    for (const auto& x : vi->as_array()) {
      const json::value* p = x.is_object() ? x.as_object().if_contains("path") : nullptr;
      std::string path = p && p->is_string() ? std::string(p->as_string()) : "";
      bool embedded = false;
      if (const json::value* list = spec.vector_embedding_policy.if_contains("vectorEmbeddings"); list && list->is_array())
        for (const auto& e : list->as_array())
          embedded = embedded || (e.is_object() && e.as_object().contains("path") && e.as_object().at("path") == json::value(path));
      if (!embedded)
        return bad("container \"" + spec.id + "\": The Vector Indexing Policy's path::" + (path.empty() ? json::serialize(x) : path.substr(1)) +
                   " not matching in Embedding's path. Every indexingPolicy.vectorIndexes path needs an entry in "
                   "vectorEmbeddingPolicy.vectorEmbeddings.");
    }
  }

  // fullTextPolicy and indexingPolicy.fullTextIndexes: every full-text index path must be one
  // of the policy's paths. Unsure: which languages the service accepts (it documents en-US
  // and lists a few others in preview); any tag of 2 to 16 characters is accepted, and every language is
  // analyzed the same way (common/fulltext.h).
  if (const json::value* fp = body.if_contains("fullTextPolicy"); fp && !fp->is_null()) {
    const json::object* o = fp->if_object();
    const json::value* lang = o ? o->if_contains("defaultLanguage") : nullptr;
    const json::value* paths = o ? o->if_contains("fullTextPaths") : nullptr;
    auto language_ok = [](const json::value* v) {
      if (!v || !v->is_string()) return false;
      std::string_view l = v->get_string();
      return l.size() >= 2 && l.size() <= 16;
    };
    bool ok = o && (!lang || language_ok(lang)) && (!paths || paths->is_array());
    if (ok && paths)
      for (const auto& e : paths->get_array()) {
        const json::object* po = e.if_object();
        const json::value* p = po ? po->if_contains("path") : nullptr;
        const json::value* l = po ? po->if_contains("language") : nullptr;
        ok = ok && p && p->is_string() && p->get_string().size() >= 2 && p->get_string()[0] == '/' &&
             (!l || language_ok(l));
      }
    if (!ok)
      return bad("container \"" + spec.id + "\": fullTextPolicy must be {\"defaultLanguage\": \"en-US\", "
                 "\"fullTextPaths\": [{\"path\": \"/text\", \"language\": \"en-US\"}]}; got " + json::serialize(*fp));
    spec.full_text_policy = *o;
  }
  if (const json::value* fi = spec.indexing_policy.if_contains("fullTextIndexes"); fi && !fi->is_null()) {
    if (!fi->is_array()) return bad("container \"" + spec.id + "\": indexingPolicy.fullTextIndexes must be an array of {\"path\"}");
    for (const auto& x : fi->get_array()) {
      const json::value* p = x.is_object() ? x.get_object().if_contains("path") : nullptr;
      bool listed = false;
      if (const json::value* list = spec.full_text_policy.if_contains("fullTextPaths"); list && list->is_array() && p)
        for (const auto& e : list->get_array())
          listed = listed || (e.is_object() && e.get_object().contains("path") && e.get_object().at("path") == *p);
      if (!listed)
        return bad("container \"" + spec.id + "\": the full-text index " + json::serialize(x) +
                   " has no path in fullTextPolicy.fullTextPaths; every indexingPolicy.fullTextIndexes "
                   "path needs an entry there");
    }
  }

  // geospatialConfig: Geography (longitude/latitude, the default) or Geometry (planar, which
  // needs a bounding box on every spatial index; Geography takes none), as the service checks.
  if (const json::value* g = body.if_contains("geospatialConfig"); g && !g->is_null()) {
    const json::value* type = g->is_object() ? g->as_object().if_contains("type") : nullptr;
    if (!type || !type->is_string() || (type->as_string() != "Geography" && type->as_string() != "Geometry"))
      return bad("container \"" + spec.id + "\": geospatialConfig must be {\"type\": \"Geography\"} or {\"type\": \"Geometry\"}");
    spec.geospatial_type = std::string(type->as_string());
  }
  if (const json::value* si = spec.indexing_policy.if_contains("spatialIndexes"); si && !si->is_null()) {
    if (!si->is_array()) return bad("container \"" + spec.id + "\": indexingPolicy.spatialIndexes is not an array of {\"path\", \"types\"}");
    bool geometry = spec.geospatial_type == "Geometry";
    for (const auto& e : si->as_array()) {
      const json::object* o = e.if_object();
      const json::value* path = o ? o->if_contains("path") : nullptr;
      if (!path || !path->is_string())
        return bad("container \"" + spec.id + "\": spatial index " + json::serialize(e).substr(0, 120) + " has no string \"path\"");
      std::string where = "container \"" + spec.id + "\": spatial index " + std::string(path->as_string()) + ": ";
      const json::value* box = o->if_contains("boundingBox");
      if (box && !box->is_null() && !geometry)
        return bad(where + "a boundingBox is only for the Geometry geospatialConfig; remove it (Geography covers the globe)");
      if ((!box || box->is_null()) && geometry)
        return bad(where + "the Geometry geospatialConfig needs a boundingBox {\"xmin\", \"ymin\", \"xmax\", \"ymax\"}");
      if (geometry) {
        const json::object* b = box->if_object();
        auto num = [&](const char* k) { const json::value* v = b ? b->if_contains(k) : nullptr; return v && v->is_number() ? std::optional<double>(v->to_number<double>()) : std::nullopt; };
        auto xmin = num("xmin"), ymin = num("ymin"), xmax = num("xmax"), ymax = num("ymax");
        if (!xmin || !ymin || !xmax || !ymax || !(*xmin < *xmax) || !(*ymin < *ymax))
          return bad(where + "the boundingBox needs numbers xmin < xmax and ymin < ymax (Geometry)");
      }
    }
  }

  // Computed properties: their shape here; their queries are checked by the SQL engine where
  // the container is created (the REST layer), since this module cannot parse SQL.
  if (const json::value* cp = body.if_contains("computedProperties"); cp && !cp->is_null()) {
    if (!cp->is_array())
      return bad("container \"" + spec.id + "\": computedProperties is not an array; send [{\"name\": \"...\", \"query\": \"SELECT VALUE ... FROM c\"}]");
    if (cp->as_array().size() > 20)
      return bad("container \"" + spec.id + "\": " + std::to_string(cp->as_array().size()) + " computedProperties; a container has at most 20");
    for (const auto& e : cp->as_array()) {
      const json::object* o = e.if_object();
      const json::value* name = o ? o->if_contains("name") : nullptr;
      const json::value* query = o ? o->if_contains("query") : nullptr;
      if (!name || !name->is_string() || name->as_string().empty() || !query || !query->is_string())
        return bad("container \"" + spec.id + "\": computed property " + json::serialize(e).substr(0, 120) +
                   " is not {\"name\": \"...\", \"query\": \"SELECT VALUE ... FROM c\"}");
      std::string_view n = name->as_string();
      if (n == "id" || n.front() == '_')
        return bad("container \"" + spec.id + "\": computed property \"" + std::string(n) +
                   "\" would hide a system property; choose another name");
      for (const auto& [other, text] : spec.computed_properties)
        if (other == n)
          return bad("container \"" + spec.id + "\": computed property \"" + std::string(n) + "\" is defined twice");
      spec.computed_properties.emplace_back(std::string(n), std::string(query->as_string()));
    }
  }
  if (const json::value* uk = body.if_contains("uniqueKeyPolicy"); uk && !uk->is_null()) {
    if (!uk->is_object()) return bad("container \"" + spec.id + "\": uniqueKeyPolicy is not an object; send {\"uniqueKeys\": [{\"paths\": [\"/email\"]}]}");
    spec.unique_key_policy = uk->as_object();
  }
  return spec;
}

}  // namespace nimbus::api
