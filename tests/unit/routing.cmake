# Unit tests of the routing core: records, snapshot/resolver, configuration.
# Included from tests/unit/CMakeLists.txt (needs the frstate and frconfig targets).
set(FR_ROUTING_TESTS ${CMAKE_CURRENT_LIST_DIR})

add_executable(test_records ${FR_ROUTING_TESTS}/test_records.c)
target_link_libraries(test_records PRIVATE frstate)
target_compile_options(test_records PRIVATE ${FR_WARN})
add_test(NAME unit_records COMMAND test_records)

add_executable(test_snapshot ${FR_ROUTING_TESTS}/test_snapshot.c)
target_link_libraries(test_snapshot PRIVATE frstate Threads::Threads)
target_compile_options(test_snapshot PRIVATE ${FR_WARN})
add_test(NAME unit_snapshot COMMAND test_snapshot)

add_executable(test_config ${FR_ROUTING_TESTS}/test_config.c)
target_link_libraries(test_config PRIVATE frconfig)
target_compile_options(test_config PRIVATE ${FR_WARN})
add_test(NAME unit_config COMMAND test_config ${FR_ROUTING_TESTS}/configs)
