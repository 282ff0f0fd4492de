# The Thrift message walker (library hmswalk) and its unit test.
# Included from hms-thrift/CMakeLists.txt:  include(${CMAKE_CURRENT_SOURCE_DIR}/walk.cmake)
# Paths are relative to this file, so the include may come from any directory.
set(HMSWALK_DIR ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(HMSWALK_TESTS ${HMSWALK_DIR}/../tests/unit ABSOLUTE)

add_library(hmswalk STATIC ${HMSWALK_DIR}/thrift_walk.c)
target_include_directories(hmswalk PUBLIC ${HMSWALK_DIR})
target_link_libraries(hmswalk PUBLIC frlib)   # struct buf (lib/buf.h)
target_compile_options(hmswalk PRIVATE ${FR_WARN})

add_executable(test_thrift_walk ${HMSWALK_TESTS}/test_thrift_walk.c)
target_include_directories(test_thrift_walk PRIVATE ${HMSWALK_TESTS})
target_link_libraries(test_thrift_walk PRIVATE hmswalk)
target_compile_options(test_thrift_walk PRIVATE ${FR_WARN})

# The test compares with the Apache Thrift Python library when an interpreter
# that has it is found (Debian: python3-thrift); otherwise it runs its own
# cases only and says so.
if(NOT DEFINED HMSWALK_PYTHON)
  set(HMSWALK_PYTHON "")
  find_program(_hmswalk_py3 python3)
  foreach(py ${_hmswalk_py3} /usr/bin/python3)
    if(py AND NOT HMSWALK_PYTHON)
      execute_process(COMMAND ${py} -c "import thrift.protocol.TCompactProtocol"
                      RESULT_VARIABLE _hmswalk_rc OUTPUT_QUIET ERROR_QUIET)
      if(_hmswalk_rc EQUAL 0)
        set(HMSWALK_PYTHON ${py})
      endif()
    endif()
  endforeach()
  set(HMSWALK_PYTHON "${HMSWALK_PYTHON}" CACHE STRING "python3 with the thrift module, for test_thrift_walk")
endif()
if(HMSWALK_PYTHON)
  add_test(NAME unit_thrift_walk COMMAND test_thrift_walk ${HMSWALK_PYTHON} ${HMSWALK_TESTS}/thrift_gen.py)
else()
  message(STATUS "hmswalk: no python3 with the thrift module; unit_thrift_walk runs without library vectors")
  add_test(NAME unit_thrift_walk COMMAND test_thrift_walk)
endif()
