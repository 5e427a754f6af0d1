# Build rules for the document service (issue 9). Included from the top CMakeLists.txt before
# the NIMBUS_UNIT_ONLY cut. Today: the Cosmos DB SQL engine (src/documents/query), a library
# with no dependency but Boost.JSON, its table-driven unit tests and a small timing program.

add_library(nimbus_docsql STATIC
  ${CMAKE_SOURCE_DIR}/src/documents/query/value.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/lexer.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/builtins.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/parser.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/executor.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/plan.cc
)
target_link_libraries(nimbus_docsql PUBLIC Boost::json)

nimbus_unit_test(docsql_test ${CMAKE_SOURCE_DIR}/src/documents/query/query_test.cc)
target_link_libraries(docsql_test PRIVATE nimbus_docsql)
target_compile_definitions(docsql_test PRIVATE
  NIMBUS_DOCSQL_TESTDATA="${CMAKE_SOURCE_DIR}/src/documents/query/testdata")

# Not a test: times parsing and a filter + ORDER BY over generated documents (README.md here).
add_executable(docsql_bench ${CMAKE_SOURCE_DIR}/src/documents/query/query_bench.cc)
target_link_libraries(docsql_bench PRIVATE nimbus_docsql)

# The document store (issue 9) is a table set of the storage engine: library nimbus_storage,
# top CMakeLists.txt.

# The SQL engine behind api::DocumentQuery (what the REST service hands a store).
add_library(nimbus_documents STATIC ${CMAKE_SOURCE_DIR}/src/documents/docsql_query.cc)
target_link_libraries(nimbus_documents PUBLIC nimbus_docsql nimbus_api)

# One document store conformance suite, instantiated for every backend (SQLite today).
add_executable(document_store_conformance_test
  ${CMAKE_SOURCE_DIR}/tests/conformance/document_store_conformance.cc
  ${CMAKE_SOURCE_DIR}/tests/conformance/sqlite_document_store_test.cc)
target_link_libraries(document_store_conformance_test PRIVATE nimbus_queue_core nimbus_documents GTest::gtest_main)
add_test(NAME document_store_conformance_test COMMAND document_store_conformance_test)
set_tests_properties(document_store_conformance_test PROPERTIES LABELS "unit;conformance" TIMEOUT 120)

# Not a test: creates/s and point reads/s through api::DocumentStore (src/documents/README.md).
add_executable(document_store_bench ${CMAKE_SOURCE_DIR}/bench/documents/store_bench.cc)
target_link_libraries(document_store_bench PRIVATE nimbus_queue_core)
