#pragma once
// The Cosmos DB NoSQL SQL engine, in one include: parse_query() (parser.h) turns text into a
// bound, immutable Query; query_plan() and index_hints() (plan.h) describe it; execute() and
// matches() (executor.h) run it over documents. No networking, no storage: the document store
// and the REST layer build on this, never the reverse.
#include "documents/query/executor.h"
#include "documents/query/expected.h"
#include "documents/query/parser.h"
#include "documents/query/plan.h"
