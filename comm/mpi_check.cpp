// MPI error reporting (see mpi_check.h). Runs on the failure path only, so it avoids anything that
// could itself fail loudly: MPI queries here are not checked, and unknown values print as "?".
#include "comm/mpi_check.h"

#include <unistd.h>

#include <string_view>

namespace cxr::comm {
namespace {

std::string error_text(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) return "MPI error code " + std::to_string(code);
  std::string text(buf, static_cast<size_t>(len));
  int error_class = 0;
  if (MPI_Error_class(code, &error_class) == MPI_SUCCESS && error_class != code &&
      MPI_Error_string(error_class, buf, &len) == MPI_SUCCESS) {
    text += " (class: " + std::string(buf, static_cast<size_t>(len)) + ")";
  }
  return text;
}

}  // namespace

std::string short_source_path(const char* file) {
  std::string_view path(file);
  auto last = path.rfind('/');
  if (last == std::string_view::npos || last == 0) return std::string(path);
  auto before = path.rfind('/', last - 1);
  return std::string(before == std::string_view::npos ? path : path.substr(before + 1));
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

std::string rank_tag() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  int rank = -1;
  if (initialized && !finalized && MPI_Comm_rank(MPI_COMM_WORLD, &rank) == MPI_SUCCESS) {
    return "rank " + std::to_string(rank);
  }
  return "rank ?";
}

void throw_mpi_error(int code, const char* expr, const char* file, int line) {
  throw MpiError(std::string(expr) + " failed on " + rank_tag() + " (host " + host_name() + ") at " +
                     short_source_path(file) + ":" + std::to_string(line) + ": " + error_text(code),
                 code);
}

}  // namespace cxr::comm
