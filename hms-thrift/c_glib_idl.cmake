# cmake -DIN_DIR=<dir with the .thrift files> -DOUT_DIR=<dir> -DSKIP=m1,m2 -P c_glib_idl.cmake
#
# Writes copies of hive_metastore.thrift and fb303.thrift for the c_glib
# generator with the methods in SKIP removed.  Thrift 0.17's c_glib output
# cannot compile a few Hive method names (see CMakeLists.txt); dropping them
# only from the c_glib copy keeps the real IDL complete.
string(REPLACE "," ";" SKIP "${SKIP}")
file(MAKE_DIRECTORY ${OUT_DIR})
file(READ ${IN_DIR}/hive_metastore.thrift idl)
foreach(m IN LISTS SKIP)
  # one method: "  <return type> name(args)" optionally followed by a throws line
  string(REGEX REPLACE "\n  [^\n(]* ${m}\\([^)]*\\)(\n      throws \\([^)]*\\))?" "" out "${idl}")
  if(out STREQUAL idl)
    message(FATAL_ERROR "c_glib_idl: method ${m} not found in hive_metastore.thrift")
  endif()
  set(idl "${out}")
endforeach()
file(WRITE ${OUT_DIR}/hive_metastore.thrift "${idl}")
configure_file(${IN_DIR}/fb303.thrift ${OUT_DIR}/fb303.thrift COPYONLY)
