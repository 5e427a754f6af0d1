# Build rules for the document service (issue 9). Included from the top CMakeLists.txt before
# the NIMBUS_UNIT_ONLY cut. Today: the Cosmos DB SQL engine (src/documents/query), a library
# with no dependency but Boost.JSON and nimbus_common, its table-driven unit tests and a small
# timing program.

add_library(nimbus_docsql STATIC
  ${CMAKE_SOURCE_DIR}/src/documents/query/value.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/lexer.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/builtins.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/spatial.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/parser.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/executor.cc
  ${CMAKE_SOURCE_DIR}/src/documents/query/plan.cc
)
target_link_libraries(nimbus_docsql PUBLIC Boost::json nimbus_common)  # common/fulltext.h: the store analyzes text the same way

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

# The Cosmos DB NoSQL REST endpoint: master-key auth (Asio-free, with its unit test), then the
# REST service, the I/O-thread store facade and nimbus-docs-server (host builds only).
target_sources(nimbus_documents PRIVATE ${CMAKE_SOURCE_DIR}/src/documents/cosmos_auth.cc)
target_link_libraries(nimbus_documents PUBLIC nimbus_common OpenSSL::Crypto)
nimbus_unit_test(cosmos_auth_test ${CMAKE_SOURCE_DIR}/src/documents/cosmos_auth_test.cc)
target_link_libraries(cosmos_auth_test PRIVATE nimbus_documents)

if(NOT NIMBUS_UNIT_ONLY)
  add_library(nimbus_documents_host STATIC
    ${CMAKE_SOURCE_DIR}/src/documents/async_document_store.cc
    ${CMAKE_SOURCE_DIR}/src/documents/cosmos_service.cc
    ${CMAKE_SOURCE_DIR}/src/documents/docs_cli.cc)
  target_link_libraries(nimbus_documents_host PUBLIC nimbus_documents nimbus_storage nimbus_host)

  # The REST handler on the real store and on one whose writes fail.
  add_executable(cosmos_service_test ${CMAKE_SOURCE_DIR}/src/documents/cosmos_service_test.cc)
  target_link_libraries(cosmos_service_test PRIVATE nimbus_documents_host GTest::gtest_main)
  add_test(NAME cosmos_service_test COMMAND cosmos_service_test)
  set_tests_properties(cosmos_service_test PROPERTIES LABELS unit TIMEOUT 60)

  add_executable(nimbus-docs-server ${CMAKE_SOURCE_DIR}/src/documents/standalone_main.cc)
  target_link_libraries(nimbus-docs-server PRIVATE nimbus_documents_host nimbus_security)

  # The official @azure/cosmos client, unmodified, against nimbus-docs-server over http.
  nimbus_e2e_test(e2e_cosmos_sdk cosmos_sdk.test.mjs 240000 300)
  # The same client on patch, transactional batch, bulk and unique keys (issue 9 item 2).
  nimbus_e2e_test(e2e_cosmos_sdk_items cosmos_sdk_items.test.mjs 120000 180)
  # The same client on users, permissions and resource tokens.
  nimbus_e2e_test(e2e_cosmos_sdk_access cosmos_sdk_access.test.mjs 120000 180)
  # The same client over https (the generated self-signed certificate) on the same port.
  nimbus_e2e_test(e2e_cosmos_https cosmos_https.test.mjs 240000 300)
  # SIGKILL during a burst of 10,000 creates: acknowledged means durable, nothing torn.
  nimbus_e2e_test(e2e_cosmos_durability cosmos_durability.test.mjs 150000 200)
  # `nimbus start` serving the same API, with functions' cosmosDB output bindings.
  nimbus_e2e_test(e2e_host_documents host_documents.test.mjs 120000 180)
  # cosmosDBTrigger functions (custom handler) fed by the SDK: order, retries, restart, SIGKILL.
  nimbus_e2e_test(e2e_host_change_feed host_change_feed.test.mjs 180000 300 --test-concurrency=1)
  # The documents examples (custom handler and native) as their READMEs use them.
  nimbus_e2e_test(e2e_examples_documents examples_documents.test.mjs 60000 180)
endif()
