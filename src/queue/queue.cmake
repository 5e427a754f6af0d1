# Build rules for the queue service (issue 3): the SQLite queue store, the Azure-Queue REST
# service, its tests and benchmarks. Included from the top CMakeLists.txt before the
# NIMBUS_UNIT_ONLY cut, so unit tests come first and host-only targets are guarded.

# Protocol pieces without Asio: XML, SharedKey, names, dates, error mapping; with the store
# (nimbus_storage, top CMakeLists.txt) that the REST service and its tests run on.
add_library(nimbus_queue_core STATIC
  ${CMAKE_SOURCE_DIR}/src/queue/queue_xml.cc
  ${CMAKE_SOURCE_DIR}/src/queue/shared_key.cc
  ${CMAKE_SOURCE_DIR}/src/queue/queue_protocol.cc
  ${CMAKE_SOURCE_DIR}/src/queue/sas.cc
  ${CMAKE_SOURCE_DIR}/src/queue/bearer.cc
)
target_link_libraries(nimbus_queue_core PUBLIC nimbus_core nimbus_storage OpenSSL::Crypto Threads::Threads)

add_executable(queue_unit_test
  ${CMAKE_SOURCE_DIR}/src/queue/queue_xml_test.cc
  ${CMAKE_SOURCE_DIR}/src/queue/shared_key_test.cc
  ${CMAKE_SOURCE_DIR}/src/queue/queue_protocol_test.cc
  ${CMAKE_SOURCE_DIR}/src/queue/sas_test.cc
)
target_link_libraries(queue_unit_test PRIVATE nimbus_queue_core GTest::gtest_main)
add_test(NAME queue_unit_test COMMAND queue_unit_test)
set_tests_properties(queue_unit_test PROPERTIES LABELS unit TIMEOUT 60)

# One store conformance suite, instantiated for every backend (SQLite today).
add_executable(queue_store_conformance_test
  ${CMAKE_SOURCE_DIR}/tests/conformance/queue_store_conformance.cc
  ${CMAKE_SOURCE_DIR}/tests/conformance/sqlite_queue_store_test.cc
)
target_link_libraries(queue_store_conformance_test PRIVATE nimbus_queue_core GTest::gtest_main)
add_test(NAME queue_store_conformance_test COMMAND queue_store_conformance_test)
set_tests_properties(queue_store_conformance_test PROPERTIES LABELS "unit;conformance" TIMEOUT 120)

if(NOT NIMBUS_UNIT_ONLY)
  # The REST service, the async store facade and the CLI: Asio lives here, not in headers.
  add_library(nimbus_queue_host STATIC
    ${CMAKE_SOURCE_DIR}/src/queue/async_queue_store.cc
    ${CMAKE_SOURCE_DIR}/src/queue/queue_service.cc
    ${CMAKE_SOURCE_DIR}/src/queue/queue_cli.cc
  )
  target_link_libraries(nimbus_queue_host PUBLIC nimbus_queue_core nimbus_host)

  # The REST handler on fake stores: what a storage failure shows a client, which query
  # parameters run.
  add_executable(queue_service_test ${CMAKE_SOURCE_DIR}/src/queue/queue_service_test.cc)
  target_link_libraries(queue_service_test PRIVATE nimbus_queue_host GTest::gtest_main)
  add_test(NAME queue_service_test COMMAND queue_service_test)
  set_tests_properties(queue_service_test PROPERTIES LABELS unit TIMEOUT 60)

  add_executable(nimbus-queue-server ${CMAKE_SOURCE_DIR}/src/queue/standalone_main.cc)
  target_link_libraries(nimbus-queue-server PRIVATE nimbus_queue_host)

  add_executable(nimbus-queue-loadgen ${CMAKE_SOURCE_DIR}/bench/queue/loadgen.cc)
  target_link_libraries(nimbus-queue-loadgen PRIVATE nimbus_queue_core Boost::headers)

  nimbus_e2e_test(e2e_queue_sdk queue_sdk.test.mjs 240000 300)
  # The attacks of the hardening issue, each against the running service or host.
  nimbus_e2e_test(e2e_queue_hardening queue_hardening.test.mjs 240000 300)
  # The host's queue port over https with the official queue client.
  nimbus_e2e_test(e2e_queue_https queue_https.test.mjs 90000 120)
  # Shared access signatures and bearer tokens with the official queue client.
  nimbus_e2e_test(e2e_queue_sas queue_sas.test.mjs 120000 150)
endif()
