# Small helpers shared by every folder: warnings, the torch precompiled header, test registration.

function(cxr_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(CXR_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# LibTorch headers cost ~30 s per translation unit. One precompiled header holds them and every
# torch-using target reuses it.
function(cxr_setup_torch_pch)
  file(WRITE ${CMAKE_BINARY_DIR}/cxr_pch_dummy.cpp "// translation unit that owns the torch PCH\n")
  add_library(cxr_torch_pch STATIC ${CMAKE_BINARY_DIR}/cxr_pch_dummy.cpp)
  target_link_libraries(cxr_torch_pch PUBLIC torch)
  target_precompile_headers(cxr_torch_pch PRIVATE <torch/torch.h>)
endfunction()

function(cxr_use_torch_pch target)
  target_precompile_headers(${target} REUSE_FROM cxr_torch_pch)
endfunction()

# cxr_add_test(NAME name SOURCES a.cpp b.cpp LIBS libs... [NP n] [TORCH])
# NP runs the test binary under mpirun with n ranks; TORCH reuses the torch PCH.
function(cxr_add_test)
  cmake_parse_arguments(T "TORCH" "NAME;NP;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE
    CXR_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    CXR_SHARED_DATA_DIR="${CXR_SHARED_DATA_DIR}"
    CXR_BINARY_DIR="${PROJECT_BINARY_DIR}"
    CXR_EXE="$<TARGET_FILE:cxrtrain>")
  cxr_warnings(${T_NAME})
  if(T_TORCH)
    cxr_use_torch_pch(${T_NAME})
  endif()
  if(T_NP)
    add_test(NAME ${T_NAME}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${T_NP} ${CXR_MPIEXEC_EXTRA}
                     $<TARGET_FILE:${T_NAME}>)
    set_tests_properties(${T_NAME} PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1" PROCESSORS ${T_NP})
  else()
    add_test(NAME ${T_NAME} COMMAND ${T_NAME})
    set_tests_properties(${T_NAME} PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1")
  endif()
  if(T_TIMEOUT)
    set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT})
  else()
    set_tests_properties(${T_NAME} PROPERTIES TIMEOUT 600)
  endif()
  if(T_LABELS)
    set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}")
  endif()
endfunction()
