# e2e_router_hms_cglib: fedrouter's metastore side driven by a C client that
# Thrift's c_glib generator makes from our IDL (hms-thrift, target
# hms-thrift-c-glib).  Included from tests/e2e/CMakeLists.txt.
#
# The generated sources are large (about 470k lines) and only this test uses
# them, so nothing here is part of the default build: the fixture test
# e2e_router_hms_cglib_build builds hms_cglib_client (and generates the
# sources) when the test runs, and e2e_router_hms_cglib requires it.
#
#   hms_cglib_client.c    the checks, through ThriftSocket with buffered and
#                         framed transports, binary and compact protocols
#   router_hms_cglib.py   starts two minihms and fedrouter, seeds the sales
#                         metastore with the generated Python client, runs
#                         the C client, cleans up
#   hms_cglib.lsan.supp   LeakSanitizer suppressions for GLib/GObject type
#                         registration (used by the driver under ASan builds)

pkg_check_modules(HMS_CGLIB_DEPS IMPORTED_TARGET thrift_c_glib glib-2.0 gobject-2.0)

if(NOT HMS_CGLIB_DEPS_FOUND OR NOT DEFINED HMS_THRIFT_C_GLIB_SOURCES)
  message(STATUS "e2e_router_hms_cglib: skipped (needs thrift_c_glib, glib-2.0, gobject-2.0)")
else()
  # The custom command that writes these lives in hms-thrift/; tell this
  # directory they are generated (CMP0118 is OLD under our minimum version).
  set_source_files_properties(${HMS_THRIFT_C_GLIB_SOURCES} PROPERTIES GENERATED TRUE)

  # Generated code: no -Werror (the generator's GObject casts trip
  # -Wcast-function-type under -Wextra), and -O0 (minutes at -O2).
  add_library(hms_cglib_gen OBJECT EXCLUDE_FROM_ALL ${HMS_THRIFT_C_GLIB_SOURCES})
  add_dependencies(hms_cglib_gen hms-thrift-c-glib)
  target_include_directories(hms_cglib_gen PRIVATE ${HMS_THRIFT_C_GLIB_DIR})
  target_link_libraries(hms_cglib_gen PRIVATE PkgConfig::HMS_CGLIB_DEPS)
  target_compile_options(hms_cglib_gen PRIVATE -w -O0)

  add_executable(hms_cglib_client EXCLUDE_FROM_ALL
                 ${CMAKE_CURRENT_LIST_DIR}/hms_cglib_client.c $<TARGET_OBJECTS:hms_cglib_gen>)
  add_dependencies(hms_cglib_client hms-thrift-c-glib)
  # SYSTEM: our warnings apply to the test, not to the generated headers.
  target_include_directories(hms_cglib_client SYSTEM PRIVATE ${HMS_THRIFT_C_GLIB_DIR})
  target_link_libraries(hms_cglib_client PRIVATE PkgConfig::HMS_CGLIB_DEPS)
  target_compile_options(hms_cglib_client PRIVATE ${FR_WARN})

  add_test(NAME e2e_router_hms_cglib_build
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --config $<CONFIG>
                   --target hms_cglib_client)
  set_tests_properties(e2e_router_hms_cglib_build PROPERTIES
                       FIXTURES_SETUP hms_cglib TIMEOUT 1200)

  add_test(NAME e2e_router_hms_cglib
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/router_hms_cglib.py
                   ${CMAKE_BINARY_DIR} $<TARGET_FILE:hms_cglib_client>)
  set_tests_properties(e2e_router_hms_cglib PROPERTIES
                       FIXTURES_REQUIRED hms_cglib TIMEOUT 180)
endif()
