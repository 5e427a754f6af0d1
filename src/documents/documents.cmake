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
