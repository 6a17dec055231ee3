# OpenCV for data/: core and imgproc required, imgcodecs (PNG decoding: `cxrtrain pack`, the synth
# gallery) optional. First OpenCV's own config package; without one — a GPU node that has only the
# libraries, e.g. Debian's libopencv-{core,imgproc}{406,-dev} unpacked with `dpkg -x` into a prefix named
# in CMAKE_PREFIX_PATH (scripts/gpu_check.sh) — the headers and libraries are found directly.
# Sets OpenCV_INCLUDE_DIRS and OpenCV_LIBS either way.
find_package(OpenCV QUIET COMPONENTS core imgproc OPTIONAL_COMPONENTS imgcodecs)
if(NOT OpenCV_FOUND)
  find_path(CXR_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4)
  find_library(CXR_OPENCV_CORE opencv_core)
  find_library(CXR_OPENCV_IMGPROC opencv_imgproc)
  find_library(CXR_OPENCV_IMGCODECS opencv_imgcodecs)
  if(NOT CXR_OPENCV_INCLUDE_DIR OR NOT CXR_OPENCV_CORE OR NOT CXR_OPENCV_IMGPROC)
    message(FATAL_ERROR
      "OpenCV core and imgproc not found: no OpenCVConfig.cmake, and no opencv2/core.hpp with libopencv_core "
      "and libopencv_imgproc (include: ${CXR_OPENCV_INCLUDE_DIR}; core: ${CXR_OPENCV_CORE}; imgproc: "
      "${CXR_OPENCV_IMGPROC}).\nHINT: apt-get install libopencv-dev, or add a prefix holding include/opencv4 "
      "and lib/<arch>/libopencv_core.so to CMAKE_PREFIX_PATH")
  endif()
  set(OpenCV_INCLUDE_DIRS ${CXR_OPENCV_INCLUDE_DIR})
  set(OpenCV_LIBS ${CXR_OPENCV_CORE} ${CXR_OPENCV_IMGPROC})
  # imgcodecs only from the same folder as core: never mix two OpenCV installations.
  get_filename_component(_cxr_core_dir "${CXR_OPENCV_CORE}" DIRECTORY)
  get_filename_component(_cxr_codecs_dir "${CXR_OPENCV_IMGCODECS}" DIRECTORY)
  if(CXR_OPENCV_IMGCODECS AND _cxr_codecs_dir STREQUAL _cxr_core_dir)
    list(APPEND OpenCV_LIBS ${CXR_OPENCV_IMGCODECS})
  endif()
  message(STATUS "cxrtrain: OpenCV found without a config package: ${OpenCV_LIBS}")
endif()
