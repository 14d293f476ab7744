# Defines the imported target lowbit::xsimd (xsimd's headers) if it does not exist yet.
if(NOT TARGET lowbit::xsimd)
  find_path(LOWBIT_XSIMD_INCLUDE_DIR xsimd/xsimd.hpp REQUIRED)
  add_library(lowbit::xsimd INTERFACE IMPORTED)
  set_target_properties(lowbit::xsimd PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${LOWBIT_XSIMD_INCLUDE_DIR}")
endif()
