// torchvision-format weights (see torchvision_export.h).
// Why a pickler of our own: torch::save writes a TorchScript archive, which Python's torch.load does
// not return as a dict; torch::pickle_save writes the right zip layout but tags every dict with
// torch.jit._pickle.restore_type_tag, which torch.load(weights_only=True) refuses (the default from
// PyTorch 2.6 on). So the pickle is written here with exactly the opcodes Python's torch.save (protocol
// 2) uses for a dict of tensors, and put into the zip by LibTorch's PyTorchStreamWriter as
// data.pkl + data/<i> (one record per storage) + byteorder. Reading needs a small unpickler too (see
// StateDictUnpickler). Only caffe2::serialize's zip reader/writer is used, the same in LibTorch 1.13
// and 2.x. Checked both ways against Debian's python3-torch 1.13 by tests/trainer/check_torchvision.py.
#include "trainer/torchvision_export.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/fs.h"

namespace cxr::trainer {

namespace {

void collect(const torch::nn::Module& module, const std::string& prefix, TensorDict& out) {
  for (const auto& p : module.named_parameters(/*recurse=*/false))
    out.insert(prefix + p.key(), p.value().detach().to(torch::kCPU));
  for (const auto& b : module.named_buffers(/*recurse=*/false))
    out.insert(prefix + b.key(), b.value().detach().to(torch::kCPU));
  for (const auto& child : module.named_children()) collect(*child.value(), prefix + child.key() + ".", out);
}

// The legacy storage class torch.load maps to each dtype (torch/storage.py).
const char* storage_class(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return "FloatStorage";
    case torch::kDouble: return "DoubleStorage";
    case torch::kHalf: return "HalfStorage";
    case torch::kBFloat16: return "BFloat16Storage";
    case torch::kLong: return "LongStorage";
    case torch::kInt: return "IntStorage";
    case torch::kShort: return "ShortStorage";
    case torch::kChar: return "CharStorage";
    case torch::kByte: return "ByteStorage";
    case torch::kBool: return "BoolStorage";
    default: throw std::runtime_error(std::string("save_tensor_dict: unsupported dtype ") + c10::toString(type));
  }
}

// Pickle protocol 2, the subset torch.save emits for {str: Tensor}. Each tensor is
//   torch._utils._rebuild_tensor_v2(persistent_id(('storage', torch.<T>Storage, '<i>', 'cpu', numel)),
//                                   offset 0, size, stride, False, collections.OrderedDict())
// and all of these globals are on torch.load's weights_only allow-list.
struct StateDictPickle {
  std::string bytes;

  void op(char c) { bytes.push_back(c); }
  void op(uint8_t c) { bytes.push_back(static_cast<char>(c)); }
  void global(const std::string& module, const std::string& name) {
    op('c');
    bytes += module + "\n" + name + "\n";
  }
  void unicode(const std::string& s) {
    op('X');  // BINUNICODE: uint32 little-endian length, UTF-8
    const uint32_t n = static_cast<uint32_t>(s.size());
    for (int i = 0; i < 4; ++i) op(static_cast<uint8_t>(n >> (8 * i)));
    bytes += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');  // BININT1
      op(static_cast<uint8_t>(v));
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');  // BININT: int32 little-endian
      for (int i = 0; i < 4; ++i) op(static_cast<uint8_t>(static_cast<uint32_t>(v) >> (8 * i)));
    } else {
      op(static_cast<uint8_t>(0x8a));  // LONG1: 8 bytes, two's complement, little-endian
      op(static_cast<uint8_t>(8));
      for (int i = 0; i < 8; ++i) op(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i)));
    }
  }
  void int_tuple(c10::IntArrayRef values) {
    op('(');  // MARK
    for (int64_t v : values) integer(v);
    op('t');  // TUPLE
  }
  void tensor(const torch::Tensor& t, const std::string& storage_key) {
    global("torch._utils", "_rebuild_tensor_v2");
    op('(');
    op('(');
    unicode("storage");
    global("torch", storage_class(t.scalar_type()));
    unicode(storage_key);
    unicode("cpu");
    integer(t.numel());
    op('t');
    op('Q');  // BINPERSID
    integer(0);
    int_tuple(t.sizes());
    int_tuple(t.strides());
    op(static_cast<uint8_t>(0x89));  // NEWFALSE: requires_grad
    global("collections", "OrderedDict");
    op(')');  // EMPTY_TUPLE
    op('R');  // REDUCE: no backward hooks
    op('t');
    op('R');
  }
};

std::string native_byteorder() {
  const uint16_t probe = 1;
  char first = 0;
  std::memcpy(&first, &probe, 1);
  return first ? "little" : "big";
}

// Reads back what torch.save writes for a dict or OrderedDict (state_dict()) of tensors. LibTorch's
// pickle_load cannot: it turns every collections.OrderedDict into None (it expects them only as a
// tensor's empty backward hooks). So this is a small pickle machine for just that subset; any other
// global or opcode is an error, which also means a file can never run code.
class StateDictUnpickler {
 public:
  StateDictUnpickler(std::string pickle, caffe2::serialize::PyTorchStreamReader& zip, std::string path)
      : data_(std::move(pickle)), zip_(zip), path_(std::move(path)) {}

  TensorDict parse() {
    run();
    if (stack_.size() != 1 || stack_[0]->kind != Kind::kDict) fail("the file does not hold a dict");
    TensorDict out;
    for (const auto& [key, value] : stack_[0]->entries) {
      if (key->kind != Kind::kStr || value->kind != Kind::kTensor) fail("the dict holds more than str -> Tensor");
      out.insert(key->text, value->tensor);
    }
    return out;
  }

 private:
  enum class Kind { kNone, kBool, kInt, kFloat, kStr, kTuple, kList, kDict, kGlobal, kTensor };
  struct Obj {
    Kind kind = Kind::kNone;
    int64_t integer = 0;
    double real = 0;
    std::string text;                                              // kStr; kGlobal: "module.name"
    std::vector<std::shared_ptr<Obj>> items;                       // kTuple, kList
    std::vector<std::pair<std::shared_ptr<Obj>, std::shared_ptr<Obj>>> entries;  // kDict
    torch::Tensor tensor;                                          // kTensor
  };
  using Ptr = std::shared_ptr<Obj>;

  [[noreturn]] void fail(const std::string& why) const {
    throw UserError("cannot read '" + path_ + "' as a dict of tensors: " + why + " (pickle byte " +
                        std::to_string(pos_) + ")",
                    "save from Python with torch.save({name: tensor, ...}, path) or torch.save(model.state_dict(), path)");
  }

  static Ptr make(Kind kind) {
    auto o = std::make_shared<Obj>();
    o->kind = kind;
    return o;
  }

  const char* take(size_t n) {
    if (pos_ + n > data_.size()) fail("truncated");
    const char* p = data_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint64_t little_endian(size_t n) {
    const auto* p = reinterpret_cast<const unsigned char*>(take(n));
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::string line() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string::npos) fail("truncated");
    std::string s = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  Ptr pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("stack underflow");
    Ptr o = stack_.back();
    stack_.pop_back();
    return o;
  }
  std::vector<Ptr> pop_to_mark() {
    if (marks_.empty()) fail("missing MARK");
    std::vector<Ptr> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  Ptr tuple(std::vector<Ptr> items) {
    Ptr t = make(Kind::kTuple);
    t->items = std::move(items);
    return t;
  }
  Ptr& top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  void memo_put(uint64_t id) { memo_[id] = top(); }
  Ptr memo_get(uint64_t id) {
    auto it = memo_.find(id);
    if (it == memo_.end()) fail("dangling memo reference");
    return it->second;
  }
  void set_items(Ptr& dict, const std::vector<Ptr>& kv) {
    if (dict->kind != Kind::kDict || kv.size() % 2) fail("SETITEMS on a non-dict");
    for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
  }

  static torch::ScalarType storage_dtype(const std::string& global) {
    static const std::map<std::string, torch::ScalarType> types = {
        {"torch.FloatStorage", torch::kFloat},   {"torch.DoubleStorage", torch::kDouble},
        {"torch.HalfStorage", torch::kHalf},     {"torch.BFloat16Storage", torch::kBFloat16},
        {"torch.LongStorage", torch::kLong},     {"torch.IntStorage", torch::kInt},
        {"torch.ShortStorage", torch::kShort},   {"torch.CharStorage", torch::kChar},
        {"torch.ByteStorage", torch::kByte},     {"torch.BoolStorage", torch::kBool}};
    auto it = types.find(global);
    return it == types.end() ? torch::ScalarType::Undefined : it->second;
  }

  // ('storage', torch.<T>Storage, key, location, numel) -> a 1-d tensor holding data/<key>.
  Ptr persistent_load(const Ptr& pid) {
    const auto& f = pid->items;
    if (pid->kind != Kind::kTuple || f.size() != 5 || f[0]->text != "storage" || f[1]->kind != Kind::kGlobal ||
        f[2]->kind != Kind::kStr || f[4]->kind != Kind::kInt)
      fail("unsupported persistent id");
    const torch::ScalarType dtype = storage_dtype(f[1]->text);
    if (dtype == torch::ScalarType::Undefined) fail("unsupported storage type " + f[1]->text);
    auto cached = storages_.find(f[2]->text);
    if (cached == storages_.end()) {
      auto [bytes, size] = zip_.getRecord("data/" + f[2]->text);
      torch::Tensor storage = torch::empty({f[4]->integer}, torch::TensorOptions().dtype(dtype));
      if (size != storage.nbytes()) fail("storage " + f[2]->text + " has the wrong size");
      if (size) std::memcpy(storage.data_ptr(), bytes.get(), size);
      cached = storages_.emplace(f[2]->text, storage).first;
    }
    Ptr o = make(Kind::kTensor);
    o->tensor = cached->second;
    return o;
  }

  std::vector<int64_t> ints(const Ptr& t) {
    if (t->kind != Kind::kTuple) fail("expected a tuple of ints");
    std::vector<int64_t> v;
    for (const auto& i : t->items) {
      if (i->kind != Kind::kInt) fail("expected a tuple of ints");
      v.push_back(i->integer);
    }
    return v;
  }

  Ptr reduce(const Ptr& fn, const Ptr& args) {
    if (fn->kind != Kind::kGlobal || args->kind != Kind::kTuple) fail("unsupported REDUCE");
    const auto& a = args->items;
    if (fn->text == "collections.OrderedDict") return make(Kind::kDict);
    if (fn->text == "torch._utils._rebuild_tensor_v2" && a.size() >= 4 && a[0]->kind == Kind::kTensor &&
        a[1]->kind == Kind::kInt) {
      const std::vector<int64_t> size = ints(a[2]), stride = ints(a[3]);
      const int64_t offset = a[1]->integer;
      int64_t last = offset;  // highest element index the view touches
      for (size_t d = 0; d < size.size() && d < stride.size(); ++d) {
        if (size[d] == 0) last = offset - 1;
        if (size[d] < 0 || stride[d] < 0) fail("negative size or stride");
        if (last >= offset) last += (size[d] - 1) * stride[d];
      }
      if (size.size() != stride.size() || offset < 0 || last >= a[0]->tensor.numel())
        fail("tensor view out of its storage's bounds");
      Ptr o = make(Kind::kTensor);
      o->tensor = a[0]->tensor.as_strided(size, stride, offset);
      return o;
    }
    if (fn->text == "torch._utils._rebuild_parameter" && !a.empty() && a[0]->kind == Kind::kTensor) return a[0];
    fail("unsupported call " + fn->text);
  }

  void run() {
    while (true) {
      const auto code = static_cast<unsigned char>(*take(1));
      switch (code) {
        case 0x80: take(1); break;  // PROTO
        case 0x95: take(8); break;  // FRAME (protocol 4)
        case '.': return;           // STOP
        case '(': marks_.push_back(stack_.size()); break;
        case '}': stack_.push_back(make(Kind::kDict)); break;
        case ']': stack_.push_back(make(Kind::kList)); break;
        case ')': stack_.push_back(tuple({})); break;
        case 't': stack_.push_back(tuple(pop_to_mark())); break;
        case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
          std::vector<Ptr> items(code - 0x84);
          for (size_t i = items.size(); i-- > 0;) items[i] = pop();
          stack_.push_back(tuple(std::move(items)));
          break;
        }
        case 'N': stack_.push_back(make(Kind::kNone)); break;
        case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
          Ptr o = make(Kind::kBool);
          o->integer = code == 0x88;
          stack_.push_back(o);
          break;
        }
        case 'K': case 'M': case 'J': {  // BININT1, BININT2, BININT (signed)
          Ptr o = make(Kind::kInt);
          if (code == 'K') o->integer = static_cast<int64_t>(little_endian(1));
          else if (code == 'M') o->integer = static_cast<int64_t>(little_endian(2));
          else o->integer = static_cast<int32_t>(static_cast<uint32_t>(little_endian(4)));
          stack_.push_back(o);
          break;
        }
        case 0x8a: {  // LONG1: n bytes, two's complement
          const size_t n = static_cast<size_t>(little_endian(1));
          if (n > 8) fail("integer too large");
          uint64_t v = n ? little_endian(n) : 0;
          if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          Ptr o = make(Kind::kInt);
          o->integer = static_cast<int64_t>(v);
          stack_.push_back(o);
          break;
        }
        case 'G': {  // BINFLOAT: big-endian double
          const auto* p = reinterpret_cast<const unsigned char*>(take(8));
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
          Ptr o = make(Kind::kFloat);
          std::memcpy(&o->real, &bits, 8);
          stack_.push_back(o);
          break;
        }
        case 'X': case 0x8c: {  // BINUNICODE, SHORT_BINUNICODE
          const size_t n = static_cast<size_t>(little_endian(code == 'X' ? 4 : 1));
          Ptr o = make(Kind::kStr);
          o->text.assign(take(n), n);
          stack_.push_back(o);
          break;
        }
        case 'c': {  // GLOBAL
          Ptr o = make(Kind::kGlobal);
          o->text = line();
          o->text += "." + line();
          stack_.push_back(o);
          break;
        }
        case 'q': memo_put(little_endian(1)); break;  // BINPUT
        case 'r': memo_put(little_endian(4)); break;  // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;    // MEMOIZE (protocol 4)
        case 'h': stack_.push_back(memo_get(little_endian(1))); break;  // BINGET
        case 'j': stack_.push_back(memo_get(little_endian(4))); break;  // LONG_BINGET
        case 'Q': {  // BINPERSID
          Ptr pid = pop();
          stack_.push_back(persistent_load(pid));
          break;
        }
        case 'R': {  // REDUCE
          Ptr args = pop();
          Ptr fn = pop();
          stack_.push_back(reduce(fn, args));
          break;
        }
        case 'b': {  // BUILD: only the _metadata attribute of a state_dict's OrderedDict, dropped
          pop();
          if (top()->kind != Kind::kDict) fail("unsupported BUILD");
          break;
        }
        case 's': {  // SETITEM
          Ptr value = pop();
          Ptr key = pop();
          set_items(top(), {key, value});
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<Ptr> kv = pop_to_mark();
          set_items(top(), kv);
          break;
        }
        case 'a': {  // APPEND
          Ptr value = pop();
          if (top()->kind != Kind::kList) fail("APPEND to a non-list");
          top()->items.push_back(value);
          break;
        }
        case 'e': {  // APPENDS
          std::vector<Ptr> values = pop_to_mark();
          if (top()->kind != Kind::kList) fail("APPENDS to a non-list");
          top()->items.insert(top()->items.end(), values.begin(), values.end());
          break;
        }
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", code);
          --pos_;
          fail(std::string("unsupported pickle opcode ") + hex);
        }
      }
    }
  }

  std::string data_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  std::string path_;
  size_t pos_ = 0;
  std::vector<Ptr> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, Ptr> memo_;
  std::map<std::string, torch::Tensor> storages_;
};

std::string join_first(const std::vector<std::string>& names, size_t limit = 5) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < limit; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > limit) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

std::string describe(const ResNetOptions& o) {
  return "ResNet-" + std::to_string(o.depth) + " (in_channels " + std::to_string(o.in_channels) +
         ", num_classes " + std::to_string(o.num_classes) + ", width " + std::to_string(o.width) + ")";
}

}  // namespace

TensorDict torchvision_state_dict(const torch::nn::Module& model) {
  TensorDict out;
  collect(model, "", out);
  return out;
}

void save_tensor_dict(const TensorDict& tensors, const std::string& path) {
  std::vector<torch::Tensor> storages;
  StateDictPickle pickle;
  pickle.op(static_cast<uint8_t>(0x80));  // PROTO 2
  pickle.op(static_cast<uint8_t>(2));
  pickle.op('}');  // EMPTY_DICT
  pickle.op('(');
  for (const auto& item : tensors) {
    // A contiguous CPU copy owns exactly its elements, so storage == tensor and offset is 0.
    torch::Tensor t = item.value().detach().to(torch::kCPU).contiguous().clone();
    pickle.unicode(item.key());
    pickle.tensor(t, std::to_string(storages.size()));
    storages.push_back(t);
  }
  pickle.op('u');  // SETITEMS (Python pickles dicts in batches of 1000; one batch reads the same)
  pickle.op('.');  // STOP

  std::string zip;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
      zip.append(static_cast<const char*>(data), n);
      return n;
    });
    writer.writeRecord("data.pkl", pickle.bytes.data(), pickle.bytes.size());
    const std::string byteorder = native_byteorder();  // what torch.save records since 2.1
    writer.writeRecord("byteorder", byteorder.data(), byteorder.size());
    for (size_t i = 0; i < storages.size(); ++i)
      writer.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(), storages[i].nbytes());
    writer.writeEndOfFile();
  }
  atomic_write_file(path, zip);
}

TensorDict load_tensor_dict(const std::string& path) {
  if (!fs::is_regular_file(path)) throw UserError("cannot read '" + path + "': no such file", "check the path");
  const std::string hint =
      "save from Python with torch.save(model.state_dict(), path) (zip format, the default since PyTorch 1.6)";
  try {
    caffe2::serialize::PyTorchStreamReader zip(path);
    if (zip.hasRecord("byteorder")) {
      auto [order, order_size] = zip.getRecord("byteorder");
      const std::string saved(static_cast<const char*>(order.get()), order_size);
      if (saved != native_byteorder())
        throw UserError("'" + path + "' was saved on a " + saved + "-endian machine; this one is " +
                        native_byteorder() + "-endian");
    }
    auto [pkl, pkl_size] = zip.getRecord("data.pkl");
    StateDictUnpickler unpickler(std::string(static_cast<const char*>(pkl.get()), pkl_size), zip, path);
    return unpickler.parse();
  } catch (const c10::Error& e) {
    throw UserError("'" + path + "' is not a readable torch.save file: " + e.what_without_backtrace(), hint);
  }
}

void export_torchvision_weights(const ResNet& model, const std::string& path) {
  save_tensor_dict(torchvision_state_dict(*model), path);
}

void load_torchvision_weights(ResNet& model, const std::string& path) {
  const TensorDict file = load_tensor_dict(path);

  // Check everything before copying anything, so a mismatch leaves the model as it was.
  std::vector<std::string> missing, unexpected, mismatched;
  const TensorDict own = torchvision_state_dict(*model);
  for (const auto& item : own) {
    const torch::Tensor* src = file.find(item.key());
    if (!src) missing.push_back(item.key());
    else if (src->sizes() != item.value().sizes())
      mismatched.push_back(item.key() + " " + c10::str(src->sizes()) + " vs " + c10::str(item.value().sizes()));
  }
  for (const auto& item : file)
    if (!own.contains(item.key())) unexpected.push_back(item.key());
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string what = "weights '" + path + "' do not fit " + describe(model->options()) + ":";
    if (!missing.empty()) what += "\n  missing: " + join_first(missing);
    if (!unexpected.empty()) what += "\n  unexpected: " + join_first(unexpected);
    if (!mismatched.empty()) what += "\n  shape (file vs model): " + join_first(mismatched);
    throw UserError(what, "set model.depth, in_channels and num_classes to those the weights were saved with");
  }

  torch::NoGradGuard no_grad;
  // torchvision_state_dict gives CPU copies for a GPU model; write through the model's own tensors.
  auto params = model->named_parameters(/*recurse=*/true);
  auto buffers = model->named_buffers(/*recurse=*/true);
  for (const auto& item : file) {
    torch::Tensor* dst = params.find(item.key());
    if (!dst) dst = buffers.find(item.key());
    dst->copy_(item.value());
  }
}

}  // namespace cxr::trainer
