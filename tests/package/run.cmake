# ctest driver: install lowbit into a scratch prefix and build + run the consumer three ways.
# Variables: SRC (lowbit source dir), WORK (scratch dir), GENERATOR.
file(REMOVE_RECURSE ${WORK})
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
endfunction()
step(${CMAKE_COMMAND} -S ${SRC} -B ${WORK}/lib -G ${GENERATOR} -DLOWBIT_BUILD_TESTS=OFF
     -DLOWBIT_BUILD_EXAMPLES=OFF -DLOWBIT_INSTALL=ON)
step(${CMAKE_COMMAND} --install ${WORK}/lib --prefix ${WORK}/prefix)
foreach(mode find_package add_subdirectory fetchcontent)
  step(${CMAKE_COMMAND} -S ${SRC}/tests/package/consumer -B ${WORK}/${mode} -G ${GENERATOR}
       -DMODE=${mode} -DLOWBIT_SOURCE_DIR=${SRC} -DCMAKE_PREFIX_PATH=${WORK}/prefix)
  step(${CMAKE_COMMAND} --build ${WORK}/${mode})
  step(${WORK}/${mode}/consumer)
  message(STATUS "consumer via ${mode}: ok")
endforeach()
