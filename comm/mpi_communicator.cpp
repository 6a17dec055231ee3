// MPI backend of Communicator (see mpi_communicator.h). Collectives run on contiguous CPU buffers in
// place; gathers first exchange shapes so that a rank passing the wrong shape fails on every rank with
// a message naming it, instead of corrupting memory or hanging.
#include "comm/mpi_communicator.h"

#include <torch/torch.h>

#include <climits>
#include <cstdlib>
#include <sstream>

#include "comm/mpi_check.h"
#include "comm/tensor_checks.h"

namespace cxr::comm {
namespace {

constexpr int kMaxGatherDims = 8;
constexpr int kShapeFields = 2 + kMaxGatherDims;  // dtype, ndim, sizes (padded with -1)

MPI_Datatype mpi_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kLong: return MPI_INT64_T;
    case at::kInt: return MPI_INT32_T;
    case at::kByte: return MPI_UINT8_T;
    default: throw std::invalid_argument("no MPI datatype for " + std::string(c10::toString(type)));
  }
}

// MPI counts are int; a larger buffer must be split by the caller (a ResNet-50 has 2.6e7 parameters).
int mpi_count(int64_t n, const char* op) {
  if (n > INT_MAX) {
    throw std::length_error(std::string(op) + ": " + std::to_string(n) + " elements exceed MPI's limit of " +
                            std::to_string(INT_MAX) + " per call; split the tensor");
  }
  return static_cast<int>(n);
}

void require_mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_CHECK(MPI_Initialized(&initialized));
  MPI_CHECK(MPI_Finalized(&finalized));
  if (!initialized || finalized) {
    throw std::runtime_error("MpiCommunicator needs MPI to be running; create an MpiRuntime first "
                             "and destroy every communicator before it");
  }
}

bool mpi_running() {
  int initialized = 0, finalized = 0;
  return MPI_Initialized(&initialized) == MPI_SUCCESS && MPI_Finalized(&finalized) == MPI_SUCCESS &&
         initialized && !finalized;
}

std::string describe(const int64_t* fields) {
  std::ostringstream s;
  s << '[';
  for (int64_t d = 0; d < fields[1]; ++d) s << (d ? ", " : "") << fields[2 + d];
  s << "] " << c10::toString(static_cast<at::ScalarType>(fields[0]));
  return s.str();
}

class MpiWork final : public Work {
 public:
  MpiWork(at::Tensor tensor, MPI_Request request) : tensor_(std::move(tensor)), request_(request) {}
  ~MpiWork() override {
    // The buffer belongs to tensor_, which dies with us: the operation must end first. Errors cannot
    // be thrown from here; whoever needed the result called wait() and saw them.
    if (request_ != MPI_REQUEST_NULL && mpi_running()) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  void wait() override { MPI_CHECK(MPI_Wait(&request_, MPI_STATUS_IGNORE)); }
  bool is_completed() override {
    int done = 0;
    MPI_CHECK(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
    return done != 0;
  }

 private:
  at::Tensor tensor_;
  MPI_Request request_;
};

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm parent) {
  require_mpi_running();
  MPI_CHECK(MPI_Comm_dup(parent, &comm_));
  MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

MpiCommunicator::MpiCommunicator(MPI_Comm owned, Adopt) : comm_(owned) {
  try {
    MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    MPI_CHECK(MPI_Comm_size(comm_, &size_));
  } catch (...) {
    MPI_Comm_free(&comm_);  // the destructor will not run for a half-built object
    throw;
  }
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_ != MPI_COMM_NULL && mpi_running()) MPI_Comm_free(&comm_);
}

void MpiCommunicator::barrier() { MPI_CHECK(MPI_Barrier(comm_)); }

void MpiCommunicator::all_reduce(at::Tensor& t, MPI_Op op, const char* name) {
  check_in_place_tensor(t, name);
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), mpi_count(t.numel(), name), mpi_type(t.scalar_type()), op,
                          comm_));
}

void MpiCommunicator::all_reduce_sum(at::Tensor& t) { all_reduce(t, MPI_SUM, "all_reduce_sum"); }

void MpiCommunicator::all_reduce_max(at::Tensor& t) { all_reduce(t, MPI_MAX, "all_reduce_max"); }

std::unique_ptr<Work> MpiCommunicator::all_reduce_sum_async(at::Tensor& t) {
  check_in_place_tensor(t, "all_reduce_sum_async");
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), mpi_count(t.numel(), "all_reduce_sum_async"),
                           mpi_type(t.scalar_type()), MPI_SUM, comm_, &request));
  return std::make_unique<MpiWork>(t, request);
}

void MpiCommunicator::broadcast(at::Tensor& t, int root) {
  check_in_place_tensor(t, "broadcast");
  // An invalid root is left for MPI to reject: it does so on every rank alike, through MPI_CHECK.
  MPI_CHECK(MPI_Bcast(t.data_ptr(), mpi_count(t.numel(), "broadcast"), mpi_type(t.scalar_type()), root, comm_));
}

std::vector<int64_t> MpiCommunicator::gather_shapes(const at::Tensor& t, bool equal_rows, const char* op) {
  if (t.dim() > kMaxGatherDims) {
    throw std::invalid_argument(std::string(op) + ": tensors of more than " + std::to_string(kMaxGatherDims) +
                                " dimensions are not supported");
  }
  std::vector<int64_t> mine(kShapeFields, -1);
  mine[0] = static_cast<int64_t>(t.scalar_type());
  mine[1] = std::max<int64_t>(t.dim(), 1);
  if (t.dim() == 0) mine[2] = 1;
  for (int64_t d = 0; d < t.dim(); ++d) mine[2 + d] = t.size(d);

  std::vector<int64_t> all(static_cast<size_t>(kShapeFields) * size_);
  MPI_CHECK(MPI_Allgather(mine.data(), kShapeFields, MPI_INT64_T, all.data(), kShapeFields, MPI_INT64_T, comm_));

  // Every rank runs the same test on the same data, so all throw (or none does).
  const int64_t* first = all.data();
  std::vector<int64_t> rows(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) {
    const int64_t* other = all.data() + static_cast<size_t>(kShapeFields) * r;
    bool same = other[0] == first[0] && other[1] == first[1];
    for (int d = equal_rows ? 2 : 3; same && d < kShapeFields; ++d) same = other[d] == first[d];
    if (!same) {
      throw std::runtime_error(std::string(op) + ": rank " + std::to_string(r) + " passed " + describe(other) +
                               " but rank 0 passed " + describe(first) + " (seen on rank " + std::to_string(rank_) +
                               "); " + (equal_rows ? "every rank must pass the same shape and dtype"
                                                   : "only the first dimension may differ between ranks"));
    }
    rows[static_cast<size_t>(r)] = other[2];
  }
  return rows;
}

at::Tensor MpiCommunicator::all_gather(const at::Tensor& t) {
  check_tensor(t, "all_gather");
  std::vector<int64_t> rows = gather_shapes(t, /*equal_rows=*/true, "all_gather");
  at::Tensor in = t.dim() == 0 ? t.reshape({1}) : t.contiguous();
  std::vector<int64_t> out_shape = in.sizes().vec();
  out_shape[0] = rows[0] * size_;
  at::Tensor out = torch::empty(out_shape, in.options());
  int count = mpi_count(in.numel(), "all_gather");
  mpi_count(out.numel(), "all_gather");
  MPI_Datatype type = mpi_type(in.scalar_type());
  MPI_CHECK(MPI_Allgather(in.data_ptr(), count, type, out.data_ptr(), count, type, comm_));
  return out;
}

at::Tensor MpiCommunicator::all_gatherv(const at::Tensor& t) {
  check_tensor(t, "all_gatherv");
  std::vector<int64_t> rows = gather_shapes(t, /*equal_rows=*/false, "all_gatherv");
  at::Tensor in = t.dim() == 0 ? t.reshape({1}) : t.contiguous();
  int64_t row_elements = 1;
  for (int64_t d = 1; d < in.dim(); ++d) row_elements *= in.size(d);

  std::vector<int> counts(static_cast<size_t>(size_)), displacements(static_cast<size_t>(size_));
  int64_t total_rows = 0;
  for (int r = 0; r < size_; ++r) {
    displacements[static_cast<size_t>(r)] = mpi_count(total_rows * row_elements, "all_gatherv");
    counts[static_cast<size_t>(r)] = mpi_count(rows[static_cast<size_t>(r)] * row_elements, "all_gatherv");
    total_rows += rows[static_cast<size_t>(r)];
  }
  mpi_count(total_rows * row_elements, "all_gatherv");

  std::vector<int64_t> out_shape = in.sizes().vec();
  out_shape[0] = total_rows;
  at::Tensor out = torch::empty(out_shape, in.options());
  MPI_Datatype type = mpi_type(in.scalar_type());
  MPI_CHECK(MPI_Allgatherv(in.data_ptr(), counts[static_cast<size_t>(rank_)], type, out.data_ptr(), counts.data(),
                           displacements.data(), type, comm_));
  return out;
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key) {
  MPI_Comm part = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split(comm_, color < 0 ? MPI_UNDEFINED : color, key, &part));
  if (part == MPI_COMM_NULL) return nullptr;
  return std::unique_ptr<Communicator>(new MpiCommunicator(part, Adopt{}));
}

void MpiCommunicator::abort(int code) {
  // MPI_COMM_WORLD, not comm_: one failing rank ends the whole job, whatever group it is in.
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest if it does
}

}  // namespace cxr::comm
