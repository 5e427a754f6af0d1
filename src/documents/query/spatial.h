#pragma once
// The GeoJSON functions of the query language, for Geography (WGS-84 longitude, latitude in
// degrees, as Cosmos DB's default geospatialConfig): ST_DISTANCE, ST_WITHIN, ST_INTERSECTS,
// ST_ISVALID, ST_ISVALIDDETAILED over Point, LineString, Polygon and MultiPolygon. Like the
// other built-ins, an argument that is not a valid geometry gives undefined, never an error.
//
// How exact, and where we are unsure:
// - Point to point distance is the WGS-84 ellipsoid's geodesic (Vincenty's inverse formula, in
//   metres). The service documents metres; we believe it measures on the ellipsoid too (it
//   follows SQL Server's geography type), but have not checked its digits.
// - Polygon and line edges are straight lines in longitude/latitude, not geodesics, and the
//   distance from a point to an edge is measured in a local flat projection around the point.
//   Edges shorter than a few hundred kilometres differ from the geodesic answer by little;
//   long edges near the poles differ more.
// - Geometry containers (planar coordinates with a bounding box) are not told apart: these
//   functions always measure Geography.
// - A geometry of more than 4,096 positions is not taken (undefined; ST_ISVALID false): the
//   edge tests cost the product of the two shapes' sizes. The service's own limit is unknown.
#include <cstddef>

#include "documents/query/value.h"

namespace nimbus::docsql::spatial {

Val st_distance(Val* args, size_t n);
Val st_within(Val* args, size_t n);
Val st_intersects(Val* args, size_t n);
Val st_isvalid(Val* args, size_t n);
// {"valid": bool, "reason": "..."}; the reason texts are ours (the service's are not known).
Val st_isvaliddetailed(Val* args, size_t n);

}  // namespace nimbus::docsql::spatial
