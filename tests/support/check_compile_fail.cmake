# Compile-fail check (STYLE.md "A type per key role"): every file in tests/compile_fail/ must compile
# as written (its control branch) and must fail to compile with -DSLUIS_COMPILE_FAIL, with a type
# error naming SecretBytes, so the failure is the key-type check and not a broken include path.
#   cmake -DCXX=<compiler> -DINCLUDE=<crypto include dir> -DDIR=<tests/compile_fail> -P this
file(GLOB cases "${DIR}/*.cpp")
if(NOT cases)
  message(FATAL_ERROR "no compile-fail cases in ${DIR}")
endif()
foreach(c IN LISTS cases)
  get_filename_component(name "${c}" NAME)
  execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE} ${c}
                  RESULT_VARIABLE ok_rc OUTPUT_VARIABLE ok_out ERROR_VARIABLE ok_out)
  if(NOT ok_rc EQUAL 0)
    message(FATAL_ERROR "${name}: the control branch does not compile, so the check proves nothing:\n${ok_out}")
  endif()
  execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -DSLUIS_COMPILE_FAIL -I${INCLUDE} ${c}
                  RESULT_VARIABLE bad_rc OUTPUT_VARIABLE bad_out ERROR_VARIABLE bad_out)
  if(bad_rc EQUAL 0)
    message(FATAL_ERROR "${name}: compiled with SLUIS_COMPILE_FAIL; a key of the wrong role was accepted")
  endif()
  if(NOT bad_out MATCHES "SecretBytes")
    message(FATAL_ERROR "${name}: failed to compile, but not on a key type:\n${bad_out}")
  endif()
  message(STATUS "${name}: refused as expected")
endforeach()
