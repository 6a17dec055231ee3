// MPI_CHECK(expr): every MPI return code goes through here. A failure throws MpiError whose message
// names the call, source location, rank, host and MPI's own error text. Only communicators that return
// errors (MPI_ERRORS_RETURN, set by MpiCommunicator) let a failure reach this check instead of aborting.
#pragma once

#include <mpi.h>

#include <stdexcept>
#include <string>

namespace cxr::comm {

class MpiError : public std::runtime_error {
 public:
  MpiError(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }  // the MPI error code as returned by the failing call

 private:
  int code_;
};

[[noreturn]] void throw_mpi_error(int code, const char* expr, const char* file, int line);

inline void mpi_check(int code, const char* expr, const char* file, int line) {
  if (code != MPI_SUCCESS) throw_mpi_error(code, expr, file, line);
}

// "rank 3" of MPI_COMM_WORLD when MPI is running, "rank ?" otherwise; used in every comm error.
std::string rank_tag();
std::string host_name();
// "/long/path/cxrtrain/comm/x.cpp" -> "comm/x.cpp": short enough to read in a log line. Shared by the
// MPI, NCCL and CUDA checks.
std::string short_source_path(const char* file);

}  // namespace cxr::comm

#define MPI_CHECK(expr) ::cxr::comm::mpi_check((expr), #expr, __FILE__, __LINE__)
