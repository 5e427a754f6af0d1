#pragma once
// Precompiled header for the translation units that use Asio and Beast (nimbus_host only):
// these templates dominate build time on small machines.
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
