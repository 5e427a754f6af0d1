#include "documents/query/spatial.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace nimbus::docsql::spatial {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kMeanEarthRadius = 6371008.8;  // metres (IUGG mean radius)

double rad(double deg) { return deg * kPi / 180.0; }

struct Pos {
  double lon = 0, lat = 0;
};
using Ring = std::vector<Pos>;
using Polygon = std::vector<Ring>;  // the outer ring, then holes

// One parsed GeoJSON geometry. A MultiPolygon is several polygons.
struct Shape {
  enum class Kind { point, line, area } kind = Kind::point;
  std::vector<Pos> points;        // point: one; line: two or more
  std::vector<Polygon> polygons;  // area
};

bool position(const json::value& v, Pos& out, std::string& why) {
  const json::array* a = v.if_array();
  if (!a || a->size() < 2 || a->size() > 3 || !(*a)[0].is_number() || !(*a)[1].is_number()) {
    why = "a position is an array of 2 or 3 numbers: [longitude, latitude]";
    return false;
  }
  out.lon = as_double((*a)[0]);
  out.lat = as_double((*a)[1]);
  if (!(out.lon >= -180 && out.lon <= 180)) {
    why = "longitude values must be between -180 and 180 degrees";
    return false;
  }
  if (!(out.lat >= -90 && out.lat <= 90)) {
    why = "latitude values must be between -90 and 90 degrees";
    return false;
  }
  return true;
}

bool positions(const json::value& v, size_t min, std::vector<Pos>& out, std::string& why) {
  const json::array* a = v.if_array();
  if (!a || a->size() < min) {
    why = "expected an array of at least " + std::to_string(min) + " positions";
    return false;
  }
  out.resize(a->size());
  for (size_t i = 0; i < a->size(); ++i)
    if (!position((*a)[i], out[i], why)) return false;
  return true;
}

bool polygon(const json::value& v, Polygon& out, std::string& why) {
  const json::array* rings = v.if_array();
  if (!rings || rings->empty()) {
    why = "a polygon is an array of rings (the outer one first)";
    return false;
  }
  out.resize(rings->size());
  for (size_t i = 0; i < rings->size(); ++i) {
    if (!positions((*rings)[i], 4, out[i], why)) {
      why = "a polygon ring has at least 4 positions: " + why;
      return false;
    }
    if (out[i].front().lon != out[i].back().lon || out[i].front().lat != out[i].back().lat) {
      why = "a polygon ring must end where it starts";
      return false;
    }
  }
  return true;
}

// Our bound, not the service's (unknown): the pairwise edge tests cost the product of two
// shapes' sizes, so a shape of more positions would let one query hold a thread for minutes.
constexpr size_t kMaxPositions = 4096;

size_t position_count(const Shape& s) {
  size_t n = s.points.size();
  for (const auto& poly : s.polygons)
    for (const auto& ring : poly) n += ring.size();
  return n;
}

std::optional<Shape> parse_shape(const Val& v, std::string& why);

std::optional<Shape> parse(const Val& v, std::string& why) {
  auto s = parse_shape(v, why);
  if (s && position_count(*s) > kMaxPositions) {
    why = "the geometry has " + std::to_string(position_count(*s)) + " positions; these functions take at most " +
          std::to_string(kMaxPositions);
    return std::nullopt;
  }
  return s;
}

std::optional<Shape> parse_shape(const Val& v, std::string& why) {
  const json::object* o = v.object();
  const json::value* type = o ? o->if_contains("type") : nullptr;
  const json::value* coords = o ? o->if_contains("coordinates") : nullptr;
  if (!type || !type->is_string() || !coords) {
    why = "a geometry is a GeoJSON object with \"type\" and \"coordinates\"";
    return std::nullopt;
  }
  Shape s;
  std::string_view t = type->as_string();
  if (t == "Point") {
    s.kind = Shape::Kind::point;
    s.points.resize(1);
    if (!position(*coords, s.points[0], why)) return std::nullopt;
  } else if (t == "LineString") {
    s.kind = Shape::Kind::line;
    if (!positions(*coords, 2, s.points, why)) return std::nullopt;
  } else if (t == "Polygon") {
    s.kind = Shape::Kind::area;
    s.polygons.resize(1);
    if (!polygon(*coords, s.polygons[0], why)) return std::nullopt;
  } else if (t == "MultiPolygon") {
    s.kind = Shape::Kind::area;
    const json::array* polys = coords->if_array();
    if (!polys || polys->empty()) {
      why = "a MultiPolygon is an array of polygons";
      return std::nullopt;
    }
    s.polygons.resize(polys->size());
    for (size_t i = 0; i < polys->size(); ++i)
      if (!polygon((*polys)[i], s.polygons[i], why)) return std::nullopt;
  } else {
    why = "the type \"" + std::string(t) + "\" is not Point, LineString, Polygon or MultiPolygon";
    return std::nullopt;
  }
  return s;
}

// Great-circle distance on the mean sphere: the fallback where Vincenty's iteration does not
// converge (nearly antipodal points).
double haversine(Pos a, Pos b) {
  double dlat = rad(b.lat - a.lat), dlon = rad(b.lon - a.lon);
  double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
             std::cos(rad(a.lat)) * std::cos(rad(b.lat)) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kMeanEarthRadius * std::asin(std::min(1.0, std::sqrt(h)));
}

// The geodesic distance on the WGS-84 ellipsoid, by Vincenty's inverse formula (1975).
double geodesic(Pos p1, Pos p2) {
  const double a = 6378137.0, f = 1 / 298.257223563, b = (1 - f) * a;
  double L = rad(p2.lon - p1.lon);
  double U1 = std::atan((1 - f) * std::tan(rad(p1.lat))), U2 = std::atan((1 - f) * std::tan(rad(p2.lat)));
  double sinU1 = std::sin(U1), cosU1 = std::cos(U1), sinU2 = std::sin(U2), cosU2 = std::cos(U2);
  double lambda = L, sinSigma = 0, cosSigma = 0, sigma = 0, cosSqAlpha = 0, cos2SigmaM = 0;
  for (int iter = 0;; ++iter) {
    if (iter == 200) return haversine(p1, p2);
    double sinLambda = std::sin(lambda), cosLambda = std::cos(lambda);
    double x = cosU2 * sinLambda, y = cosU1 * sinU2 - sinU1 * cosU2 * cosLambda;
    sinSigma = std::sqrt(x * x + y * y);
    if (sinSigma == 0) return 0;  // the same point
    cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosLambda;
    sigma = std::atan2(sinSigma, cosSigma);
    double sinAlpha = cosU1 * cosU2 * sinLambda / sinSigma;
    cosSqAlpha = 1 - sinAlpha * sinAlpha;
    cos2SigmaM = cosSqAlpha != 0 ? cosSigma - 2 * sinU1 * sinU2 / cosSqAlpha : 0;  // 0 on the equator
    double C = f / 16 * cosSqAlpha * (4 + f * (4 - 3 * cosSqAlpha));
    double previous = lambda;
    lambda = L + (1 - C) * f * sinAlpha *
                     (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)));
    if (std::fabs(lambda - previous) <= 1e-12) break;
  }
  double uSq = cosSqAlpha * (a * a - b * b) / (b * b);
  double A = 1 + uSq / 16384 * (4096 + uSq * (-768 + uSq * (320 - 175 * uSq)));
  double B = uSq / 1024 * (256 + uSq * (-128 + uSq * (74 - 47 * uSq)));
  double deltaSigma =
      B * sinSigma *
      (cos2SigmaM + B / 4 * (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM) -
                             B / 6 * cos2SigmaM * (-3 + 4 * sinSigma * sinSigma) * (-3 + 4 * cos2SigmaM * cos2SigmaM)));
  return b * A * (sigma - deltaSigma);
}

// The edges of a shape: a line's consecutive positions, every ring's sides.
std::vector<std::pair<Pos, Pos>> edges(const Shape& s) {
  std::vector<std::pair<Pos, Pos>> out;
  if (s.kind == Shape::Kind::line)
    for (size_t i = 1; i < s.points.size(); ++i) out.emplace_back(s.points[i - 1], s.points[i]);
  for (const auto& poly : s.polygons)
    for (const auto& ring : poly)
      for (size_t i = 1; i < ring.size(); ++i) out.emplace_back(ring[i - 1], ring[i]);
  return out;
}

std::vector<Pos> vertices(const Shape& s) {
  std::vector<Pos> out = s.points;
  for (const auto& poly : s.polygons)
    for (const auto& ring : poly) out.insert(out.end(), ring.begin(), ring.end());
  return out;
}

// Which side of a->b the point c is on (planar, in degrees): > 0 left, < 0 right, 0 on it.
double side(Pos a, Pos b, Pos c) { return (b.lon - a.lon) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lon - a.lon); }

bool on_segment(Pos a, Pos b, Pos c) {
  return side(a, b, c) == 0 && std::min(a.lon, b.lon) <= c.lon && c.lon <= std::max(a.lon, b.lon) &&
         std::min(a.lat, b.lat) <= c.lat && c.lat <= std::max(a.lat, b.lat);
}

// Whether segments p1-p2 and q1-q2 share a point (touching counts).
bool segments_meet(Pos p1, Pos p2, Pos q1, Pos q2) {
  double d1 = side(q1, q2, p1), d2 = side(q1, q2, p2), d3 = side(p1, p2, q1), d4 = side(p1, p2, q2);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  return on_segment(q1, q2, p1) || on_segment(q1, q2, p2) || on_segment(p1, p2, q1) || on_segment(p1, p2, q2);
}

// Ray casting; a point on a ring counts as inside that ring.
bool in_ring(const Ring& ring, Pos p) {
  bool inside = false;
  for (size_t i = 1; i < ring.size(); ++i) {
    Pos a = ring[i - 1], b = ring[i];
    if (on_segment(a, b, p)) return true;
    if ((a.lat > p.lat) != (b.lat > p.lat) && p.lon < (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon)
      inside = !inside;
  }
  return inside;
}

bool in_area(const Shape& area, Pos p) {
  for (const auto& poly : area.polygons) {
    if (!in_ring(poly[0], p)) continue;
    bool in_hole = false;
    for (size_t h = 1; h < poly.size() && !in_hole; ++h) {
      const Ring& hole = poly[h];
      bool on_edge = false;
      for (size_t i = 1; i < hole.size() && !on_edge; ++i) on_edge = on_segment(hole[i - 1], hole[i], p);
      in_hole = !on_edge && in_ring(hole, p);
    }
    if (!in_hole) return true;
  }
  return false;
}

bool point_on_line(const Shape& line, Pos p) {
  for (size_t i = 1; i < line.points.size(); ++i)
    if (on_segment(line.points[i - 1], line.points[i], p)) return true;
  return false;
}

bool touches(const Shape& s, Pos p) {
  if (s.kind == Shape::Kind::point) return s.points[0].lon == p.lon && s.points[0].lat == p.lat;
  if (s.kind == Shape::Kind::line) return point_on_line(s, p);
  return in_area(s, p);
}

bool intersects(const Shape& a, const Shape& b) {
  for (const Pos& p : vertices(a))
    if (touches(b, p)) return true;
  for (const Pos& p : vertices(b))
    if (touches(a, p)) return true;
  auto ea = edges(a), eb = edges(b);
  for (const auto& [p1, p2] : ea)
    for (const auto& [q1, q2] : eb)
      if (segments_meet(p1, p2, q1, q2)) return true;
  return false;
}

// `a` inside the area `b`: every vertex of `a` in it, and no edge of `a` crossing out through
// an edge of `b` (an edge that only touches one stays in).
bool within(const Shape& a, const Shape& b) {
  if (b.kind != Shape::Kind::area) {
    if (a.kind != Shape::Kind::point) return false;
    return touches(b, a.points[0]);
  }
  for (const Pos& p : vertices(a))
    if (!in_area(b, p)) return false;
  auto ea = edges(a), eb = edges(b);
  for (const auto& [p1, p2] : ea)
    for (const auto& [q1, q2] : eb) {
      double d1 = side(q1, q2, p1), d2 = side(q1, q2, p2), d3 = side(p1, p2, q1), d4 = side(p1, p2, q2);
      if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return false;
    }
  return true;
}

// Metres from p to the segment a-b, in a flat projection around p (longitude scaled by the
// cosine of p's latitude, both on the mean sphere).
double to_segment(Pos p, Pos a, Pos b) {
  double k = rad(1) * kMeanEarthRadius, kx = k * std::cos(rad(p.lat));
  auto dlon = [](double d) { return d > 180 ? d - 360 : d < -180 ? d + 360 : d; };
  double ax = dlon(a.lon - p.lon) * kx, ay = (a.lat - p.lat) * k;
  double bx = dlon(b.lon - p.lon) * kx, by = (b.lat - p.lat) * k;
  double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? std::clamp(-(ax * dx + ay * dy) / len2, 0.0, 1.0) : 0;
  double x = ax + t * dx, y = ay + t * dy;
  return std::sqrt(x * x + y * y);
}

double distance(const Shape& a, const Shape& b) {
  if (a.kind == Shape::Kind::point && b.kind == Shape::Kind::point) return geodesic(a.points[0], b.points[0]);
  if (intersects(a, b)) return 0;
  double best = std::numeric_limits<double>::infinity();
  auto from = [&](const Shape& s, const Shape& other) {
    auto e = edges(other);
    for (const Pos& p : vertices(s)) {
      if (other.kind == Shape::Kind::point) best = std::min(best, geodesic(p, other.points[0]));
      for (const auto& [q1, q2] : e) best = std::min(best, to_segment(p, q1, q2));
    }
  };
  from(a, b);
  from(b, a);
  return best;
}

std::optional<std::pair<Shape, Shape>> two(Val* args) {
  std::string why;
  auto a = parse(args[0], why);
  auto b = a ? parse(args[1], why) : std::nullopt;
  if (!a || !b) return std::nullopt;
  return std::make_pair(std::move(*a), std::move(*b));
}

}  // namespace

Val st_distance(Val* args, size_t) {
  auto s = two(args);
  return s ? Val::number(distance(s->first, s->second)) : Val();
}

Val st_within(Val* args, size_t) {
  auto s = two(args);
  return s ? Val::boolean(within(s->first, s->second)) : Val();
}

Val st_intersects(Val* args, size_t) {
  auto s = two(args);
  return s ? Val::boolean(intersects(s->first, s->second)) : Val();
}

Val st_isvalid(Val* args, size_t) {
  if (args[0].type() != Type::object) return Val();
  std::string why;
  return Val::boolean(parse(args[0], why).has_value());
}

Val st_isvaliddetailed(Val* args, size_t) {
  if (args[0].type() != Type::object) return Val();
  std::string why;
  bool valid = parse(args[0], why).has_value();
  return Val::own(json::value(json::object{{"valid", valid}, {"reason", valid ? "Valid Geometry" : why}}));
}

}  // namespace nimbus::docsql::spatial
