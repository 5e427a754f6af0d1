# Build rules for the queue service (issue 3): the SQLite queue store, the Azure-Queue REST
# service, its tests and benchmarks. Included from the top CMakeLists.txt before the
# NIMBUS_UNIT_ONLY cut, so unit tests come first and host-only targets are guarded.

# Protocol pieces without Asio: XML, SharedKey, names, dates, error mapping; with the store
# (nimbus_storage, top CMakeLists.txt) that the REST service and its tests run on.
add_library(nimbus_queue_core STATIC
  ${CMAKE_SOURCE_DIR}/src/queue/queue_xml.cc
  ${CMAKE_SOURCE_DIR}/src/queue/shared_key.cc
  ${CMAKE_SOURCE_DIR}/src/queue/queue_protocol.cc
)
target_link_libraries(nimbus_queue_core PUBLIC nimbus_core nimbus_storage OpenSSL::Crypto Threads::Threads)

add_executable(queue_unit_test
  ${CMAKE_SOURCE_DIR}/src/queue/queue_xml_test.cc
  ${CMAKE_SOURCE_DIR}/src/queue/shared_key_test.cc
  ${CMAKE_SOURCE_DIR}/src/queue/queue_protocol_test.cc
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

  find_program(NIMBUS_QUEUE_NODE node)
  if(NIMBUS_QUEUE_NODE)
    add_test(NAME e2e_queue_sdk
      COMMAND ${NIMBUS_QUEUE_NODE} --test --test-timeout=240000
              ${CMAKE_SOURCE_DIR}/tests/e2e/queue_sdk.test.mjs)
    set_tests_properties(e2e_queue_sdk PROPERTIES
      LABELS e2e TIMEOUT 300
      ENVIRONMENT "NIMBUS_QUEUE_SERVER_BIN=$<TARGET_FILE:nimbus-queue-server>;NIMBUS_BIN=$<TARGET_FILE:nimbus>;NIMBUS_ROOT=${CMAKE_SOURCE_DIR}")
    # The attacks of the hardening issue, each against the running service or host.
    add_test(NAME e2e_queue_hardening
      COMMAND ${NIMBUS_QUEUE_NODE} --test --test-timeout=240000
              ${CMAKE_SOURCE_DIR}/tests/e2e/queue_hardening.test.mjs)
    set_tests_properties(e2e_queue_hardening PROPERTIES
      LABELS e2e TIMEOUT 300
      ENVIRONMENT "NIMBUS_QUEUE_SERVER_BIN=$<TARGET_FILE:nimbus-queue-server>;NIMBUS_BIN=$<TARGET_FILE:nimbus>;NIMBUS_ROOT=${CMAKE_SOURCE_DIR}")
    # The host's queue port over https with the official queue client.
    add_test(NAME e2e_queue_https
      COMMAND ${NIMBUS_QUEUE_NODE} --test --test-timeout=90000
              ${CMAKE_SOURCE_DIR}/tests/e2e/queue_https.test.mjs)
    set_tests_properties(e2e_queue_https PROPERTIES
      LABELS e2e TIMEOUT 120
      ENVIRONMENT "NIMBUS_BIN=$<TARGET_FILE:nimbus>;NIMBUS_ROOT=${CMAKE_SOURCE_DIR}")
  endif()
endif()
