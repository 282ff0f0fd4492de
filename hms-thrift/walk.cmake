# The Thrift message walker (library hmswalk); its test is declared in tests/unit.
# Included from hms-thrift/CMakeLists.txt:  include(${CMAKE_CURRENT_SOURCE_DIR}/walk.cmake)
# Paths are relative to this file, so the include may come from any directory.
set(HMSWALK_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(hmswalk STATIC ${HMSWALK_DIR}/thrift_walk.c)
target_include_directories(hmswalk PUBLIC ${HMSWALK_DIR})
target_link_libraries(hmswalk PUBLIC frlib)   # struct buf (lib/buf.h)
target_compile_options(hmswalk PRIVATE ${FR_WARN})
