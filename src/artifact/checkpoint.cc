#include "visrec/artifact/checkpoint.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

#include "visrec/util/errors.h"

namespace visrec {

int ElementSize(ElementType t) {
  switch (t) {
    case ElementType::kDouble:
    case ElementType::kLong: return 8;
    case ElementType::kFloat:
    case ElementType::kInt: return 4;
    case ElementType::kHalf:
    case ElementType::kBFloat16:
    case ElementType::kShort: return 2;
    default: return 1;
  }
}

const char* ElementTypeName(ElementType t) {
  switch (t) {
    case ElementType::kFloat: return "FloatStorage";
    case ElementType::kDouble: return "DoubleStorage";
    case ElementType::kHalf: return "HalfStorage";
    case ElementType::kBFloat16: return "BFloat16Storage";
    case ElementType::kLong: return "LongStorage";
    case ElementType::kInt: return "IntStorage";
    case ElementType::kShort: return "ShortStorage";
    case ElementType::kChar: return "CharStorage";
    case ElementType::kByte: return "ByteStorage";
    case ElementType::kBool: return "BoolStorage";
  }
  return "?";
}

namespace {

constexpr size_t kMaxPickleBytes = size_t(8) << 20;
constexpr size_t kMaxValues = size_t(1) << 20;
constexpr int kMaxDims = 8;
constexpr int64_t kMaxElements = int64_t(1) << 40;
// The legacy format's magic number (a pickled 10-byte int) and protocol version.
constexpr unsigned char kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

uint64_t LoadLE(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | uint8_t(p[i]);
  return v;
}

uint32_t Crc32(const char* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ uint8_t(p[i])) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// ---- zip (stored entries only, as torch.save writes them) ----------------------------------------

struct ZipEntry {
  uint64_t offset = 0, size = 0;  // of the data
  uint32_t crc = 0;
};

class Zip {
 public:
  Zip(const std::string& bytes, const std::string& label) : b_(bytes), label_(label) { Parse(); }
  const std::map<std::string, ZipEntry>& entries() const { return entries_; }
  std::string Read(const std::string& name, const ZipEntry& e) const {
    std::string data = b_.substr(size_t(e.offset), size_t(e.size));
    if (Crc32(data.data(), data.size()) != e.crc) Fail("record '" + name + "' fails its CRC-32 check (damaged file)");
    return data;
  }

 private:
  [[noreturn]] void Fail(const std::string& why) const {
    throw InputError(label_ + ": " + why + "; download the checkpoint again");
  }
  void Need(uint64_t at, uint64_t len, const char* what) const {
    if (at > b_.size() || len > b_.size() - at) Fail(std::string("truncated zip archive (") + what + " past the end)");
  }
  uint64_t U(uint64_t at, int n) const { return LoadLE(b_.data() + at, n); }

  void Parse() {
    // End of central directory: the last signature within the final 64 KiB + 22 bytes.
    if (b_.size() < 22) Fail("truncated zip archive (no end-of-directory record)");
    size_t lo = b_.size() > 65557 ? b_.size() - 65557 : 0;
    std::optional<size_t> eocd;
    for (size_t i = b_.size() - 22 + 1; i-- > lo;)
      if (U(i, 4) == 0x06054b50) {
        eocd = i;
        break;
      }
    if (!eocd) Fail("truncated zip archive (no end-of-directory record)");
    uint64_t count = U(*eocd + 10, 2), cd_size = U(*eocd + 12, 4), cd_off = U(*eocd + 16, 4);
    if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) {  // zip64
      if (*eocd < 20 || U(*eocd - 20, 4) != 0x07064b50) Fail("zip64 archive without its locator");
      uint64_t z = U(*eocd - 20 + 8, 8);
      Need(z, 56, "zip64 directory record");
      if (U(z, 4) != 0x06064b50) Fail("bad zip64 directory record");
      count = U(z + 32, 8), cd_size = U(z + 40, 8), cd_off = U(z + 48, 8);
    }
    Need(cd_off, cd_size, "central directory");
    if (count > cd_size / 46 + 1) Fail("central directory claims more entries than it can hold");
    uint64_t p = cd_off;
    for (uint64_t n = 0; n < count; ++n) {
      Need(p, 46, "directory entry");
      if (U(p, 4) != 0x02014b50) Fail("bad central directory entry");
      const uint64_t method = U(p + 10, 2), name_len = U(p + 28, 2), extra_len = U(p + 30, 2),
                     comment_len = U(p + 32, 2);
      uint64_t csize = U(p + 20, 4), usize = U(p + 24, 4), local = U(p + 42, 4);
      const uint32_t crc = uint32_t(U(p + 16, 4));
      Need(p + 46, name_len + extra_len + comment_len, "directory entry");
      std::string name = b_.substr(size_t(p + 46), size_t(name_len));
      // zip64 extra field: the 64-bit values of those that read 0xFFFFFFFF, in this order.
      for (uint64_t x = p + 46 + name_len, end = x + extra_len; x + 4 <= end;) {
        uint64_t id = U(x, 2), len = U(x + 2, 2);
        if (x + 4 + len > end) Fail("bad extra field in entry '" + name + "'");
        if (id == 0x0001) {
          uint64_t q = x + 4, qend = q + len;
          auto take = [&](uint64_t& v) {
            if (v != 0xFFFFFFFF) return;
            if (q + 8 > qend) Fail("bad zip64 field in entry '" + name + "'");
            v = U(q, 8), q += 8;
          };
          take(usize), take(csize), take(local);
        }
        x += 4 + len;
      }
      if (method != 0)
        Fail("record '" + name + "' is compressed (method " + std::to_string(method) +
             "); torch.save stores records uncompressed, so this is not a file it wrote as is");
      if (csize != usize) Fail("record '" + name + "' has inconsistent sizes");
      Need(local, 30, "local header");
      if (U(local, 4) != 0x04034b50) Fail("bad local header of record '" + name + "'");
      const uint64_t data = local + 30 + U(local + 26, 2) + U(local + 28, 2);
      Need(data, usize, ("record '" + name + "'").c_str());
      if (!entries_.emplace(name, ZipEntry{data, usize, crc}).second) Fail("record '" + name + "' appears twice");
      p += 46 + name_len + extra_len + comment_len;
    }
  }

  const std::string& b_;
  std::string label_;
  std::map<std::string, ZipEntry> entries_;
};

// ---- the pickle reader -----------------------------------------------------------------------------

enum class Kind { kNone, kBool, kInt, kBigInt, kFloat, kStr, kTuple, kList, kDict, kGlobal, kStorage, kTensor };

// Values live in an arena and refer to each other by index: no ownership cycles, no recursion.
struct Value {
  Kind kind = Kind::kNone;
  int64_t i = 0;
  double f = 0;
  std::string s;              // Str, BigInt bytes, Global "module.name"
  std::vector<size_t> items;  // Tuple, List; Dict as key, value, key, value, ...
  size_t storage = 0;         // Storage: index into storages; Tensor: into tensors
};

struct StorageRef {
  std::string key;
  ElementType type;
  int64_t numel;
};

class Unpickler {
 public:
  // `budget`: values all the pickles of one file may still create (shared, so five pickles in a
  // legacy file cannot each take the whole allowance).
  Unpickler(const std::string& data, size_t begin, const std::string& label, size_t* budget)
      : d_(data), p_(begin), label_(label), budget_(budget) {}

  // Runs to STOP; returns the index of the result.
  size_t Run() {
    while (true) {
      const uint8_t op = Byte();
      switch (op) {
        case 0x80: Byte(); break;    // PROTO
        case 0x95: Bytes(8); break;  // FRAME (a hint only)
        case '.': return Pop();      // STOP
        case '(': marks_.push_back(stack_.size()); break;
        case 'c': {  // GLOBAL "module\nname\n"
          std::string module = Line(), name = Line();
          Push(Global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          size_t name = Pop(), module = Pop();
          if (v_[name].kind != Kind::kStr || v_[module].kind != Kind::kStr) Fail("STACK_GLOBAL without names");
          Push(Global(v_[module].s, v_[name].s));
          break;
        }
        case 'q': Memo(Byte()); break;           // BINPUT
        case 'r': Memo(Uint(4)); break;          // LONG_BINPUT
        case 0x94: Memo(memo_.size()); break;    // MEMOIZE
        case 'h': Push(Recall(Byte())); break;   // BINGET
        case 'j': Push(Recall(Uint(4))); break;  // LONG_BINGET
        case ')': Push(New(Kind::kTuple)); break;
        case ']': Push(New(Kind::kList)); break;
        case '}': Push(New(Kind::kDict)); break;
        case 't': Push(Collect(Kind::kTuple, PopMark())); break;
        case 0x85:
        case 0x86:
        case 0x87: Push(Collect(Kind::kTuple, Need(op - 0x84))); break;
        case 'a': Append(false); break;    // APPEND
        case 'e': Append(true); break;     // APPENDS
        case 's': SetItems(false); break;  // SETITEM
        case 'u': SetItems(true); break;   // SETITEMS
        case 'J': Push(Int(int32_t(Uint(4)))); break;
        case 'K': Push(Int(Byte())); break;
        case 'M': Push(Int(int64_t(Uint(2)))); break;
        case 0x8a: Push(Long1()); break;
        case 'G': Push(BinFloat()); break;
        case 0x88:
        case 0x89: {  // NEWTRUE, NEWFALSE
          size_t x = New(Kind::kBool);
          v_[x].i = op == 0x88;
          Push(x);
          break;
        }
        case 'N': Push(New(Kind::kNone)); break;
        case 'X': Push(Str(Bytes(Uint(4)))); break;    // BINUNICODE
        case 0x8c: Push(Str(Bytes(Byte()))); break;    // SHORT_BINUNICODE
        case 0x8d: Push(Str(Bytes(Uint(8)))); break;   // BINUNICODE8
        case 'Q': Push(PersistentLoad(Pop())); break;  // BINPERSID
        case 'R': {
          size_t args = Pop(), fn = Pop();
          Push(Reduce(fn, args));
          break;
        }
        case 'b': {  // BUILD: an OrderedDict's attributes (_metadata): not needed
          Pop();
          if (v_[Top()].kind != Kind::kDict) Fail("BUILD on something other than a dict");
          break;
        }
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          Fail(std::string("pickle opcode ") + hex + " at byte " + std::to_string(p_ - 1) +
               " is not one a state_dict uses; refusing to interpret it");
        }
      }
    }
  }

  size_t pos() const { return p_; }

  const Value& at(size_t x) const { return v_[x]; }
  std::vector<StorageRef>& storages() { return storages_; }
  struct TensorView {
    size_t storage;
    int64_t offset;
    std::vector<int64_t> sizes, strides;
  };
  const std::vector<TensorView>& tensors() const { return tensors_; }

  [[noreturn]] void Fail(const std::string& why) const { throw InputError(label_ + ": " + why); }

 private:
  // APPEND (one value) / APPENDS (the values above the mark) onto the list below them.
  void Append(bool from_mark) {
    const std::vector<size_t> xs = from_mark ? TakeFrom(PopMark()) : std::vector<size_t>{Pop()};
    auto& l = Container(Top(), Kind::kList).items;
    l.insert(l.end(), xs.begin(), xs.end());
  }
  // SETITEM (one key and value) / SETITEMS (the pairs above the mark) into the dict below them.
  void SetItems(bool from_mark) {
    std::vector<size_t> xs;
    if (from_mark) {
      xs = TakeFrom(PopMark());
      if (xs.size() % 2) Fail("SETITEMS with an odd number of values");
    } else {
      const size_t val = Pop(), key = Pop();
      xs = {key, val};
    }
    auto& m = Container(Top(), Kind::kDict).items;
    m.insert(m.end(), xs.begin(), xs.end());
  }
  // LONG1: a little-endian two's-complement integer of up to 255 bytes (kept as bytes beyond 8).
  size_t Long1() {
    const size_t n = Byte();
    std::string raw = Bytes(n);
    if (n > 8) {
      size_t x = New(Kind::kBigInt);
      v_[x].s = raw;
      return x;
    }
    uint64_t u = LoadLE(raw.data(), int(n));
    if (n > 0 && n < 8 && (uint8_t(raw[n - 1]) & 0x80)) u |= ~uint64_t(0) << (8 * n);  // sign-extend
    return Int(int64_t(u));
  }
  // BINFLOAT: an 8-byte big-endian double.
  size_t BinFloat() {
    std::string raw = Bytes(8);
    uint64_t u = 0;
    for (char c : raw) u = (u << 8) | uint8_t(c);
    size_t x = New(Kind::kFloat);
    std::memcpy(&v_[x].f, &u, 8);
    return x;
  }

  uint8_t Byte() {
    if (p_ >= d_.size()) Fail("the pickle ends before its STOP (truncated file)");
    return uint8_t(d_[p_++]);
  }
  std::string Bytes(uint64_t n) {
    if (n > d_.size() - p_) Fail("the pickle ends inside a value (truncated file)");
    std::string s = d_.substr(p_, size_t(n));
    p_ += size_t(n);
    return s;
  }
  uint64_t Uint(int n) { return LoadLE(Bytes(uint64_t(n)).data(), n); }
  std::string Line() {
    size_t e = d_.find('\n', p_);
    if (e == std::string::npos || e - p_ > 256) Fail("malformed GLOBAL");
    std::string s = d_.substr(p_, e - p_);
    p_ = e + 1;
    return s;
  }
  size_t New(Kind k) {
    if (*budget_ == 0) Fail("the pickle holds more values than any state_dict");
    --*budget_;
    v_.push_back(Value{});
    v_.back().kind = k;
    return v_.size() - 1;
  }
  size_t Int(int64_t i) {
    size_t x = New(Kind::kInt);
    v_[x].i = i;
    return x;
  }
  size_t Str(std::string s) {
    size_t x = New(Kind::kStr);
    v_[x].s = std::move(s);
    return x;
  }
  void Push(size_t x) {
    if (stack_.size() >= kMaxValues) Fail("the pickle's stack grows beyond any state_dict's");
    stack_.push_back(x);
  }
  size_t Top() const {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) Fail("pickle stack underflow");
    return stack_.back();
  }
  size_t Pop() {
    size_t x = Top();
    stack_.pop_back();
    return x;
  }
  size_t PopMark() {
    if (marks_.empty()) Fail("pickle MARK missing");
    size_t m = marks_.back();
    marks_.pop_back();
    return m;
  }
  size_t Need(size_t n) {
    size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() < floor + n) Fail("pickle stack underflow");
    return stack_.size() - n;
  }
  std::vector<size_t> TakeFrom(size_t from) {
    std::vector<size_t> xs(stack_.begin() + long(from), stack_.end());
    stack_.resize(from);
    return xs;
  }
  size_t Collect(Kind k, size_t from) {
    auto xs = TakeFrom(from);
    size_t x = New(k);
    v_[x].items = std::move(xs);
    return x;
  }
  Value& Container(size_t x, Kind k) {
    if (v_[x].kind != k)
      Fail(k == Kind::kList ? "APPEND to something other than a list" : "SETITEM on something other than a dict");
    return v_[x];
  }
  void Memo(uint64_t slot) {
    // Picklers number memo slots in order, so a slot beyond the next one is not from a real file.
    if (slot > memo_.size()) Fail("pickle memo index " + std::to_string(slot) + " out of order");
    if (slot >= memo_.size()) memo_.resize(size_t(slot) + 1, SIZE_MAX);
    memo_[size_t(slot)] = Top();
  }
  size_t Recall(uint64_t slot) {
    if (slot >= memo_.size() || memo_[size_t(slot)] == SIZE_MAX)
      Fail("pickle memo slot " + std::to_string(slot) + " is empty");
    return memo_[size_t(slot)];
  }

  size_t Global(const std::string& module, const std::string& name) {
    static const std::map<std::string, ElementType> kStorages{
        {"FloatStorage", ElementType::kFloat}, {"DoubleStorage", ElementType::kDouble},
        {"HalfStorage", ElementType::kHalf},   {"BFloat16Storage", ElementType::kBFloat16},
        {"LongStorage", ElementType::kLong},   {"IntStorage", ElementType::kInt},
        {"ShortStorage", ElementType::kShort}, {"CharStorage", ElementType::kChar},
        {"ByteStorage", ElementType::kByte},   {"BoolStorage", ElementType::kBool}};
    const std::string full = module + "." + name;
    bool ok = full == "collections.OrderedDict" || full == "torch._utils._rebuild_tensor_v2" ||
              full == "torch._utils._rebuild_parameter" || full == "torch.jit._pickle.restore_type_tag" ||
              (module == "torch" && kStorages.count(name));
    if (!ok) {
      std::string shown;
      for (char c : full) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
      Fail("refusing the pickle global '" + shown +
           "': a state_dict holds only tensors (OrderedDict, _rebuild_tensor_v2, storages); this file wants "
           "to build something else, which visrec never imports or runs");
    }
    size_t x = New(Kind::kGlobal);
    v_[x].s = full;
    if (module == "torch" && kStorages.count(name)) v_[x].i = int64_t(kStorages.at(name));
    return x;
  }

  const Value& Expect(size_t x, Kind k, const char* what) const {
    if (v_[x].kind != k) Fail(std::string("malformed ") + what);
    return v_[x];
  }

  // ('storage', <torch.XStorage>, key, location, numel[, view_metadata])
  size_t PersistentLoad(size_t pid) {
    const Value& t = Expect(pid, Kind::kTuple, "persistent id");
    if (t.items.size() < 5 || t.items.size() > 6) Fail("malformed persistent id");
    if (v_[t.items[0]].kind != Kind::kStr || v_[t.items[0]].s != "storage") Fail("persistent id that is not a storage");
    const Value& type = Expect(t.items[1], Kind::kGlobal, "storage type");
    if (type.s.rfind("torch.", 0) != 0 || type.s.find("Storage") == std::string::npos) Fail("malformed storage type");
    const std::string key = Expect(t.items[2], Kind::kStr, "storage key").s;
    const int64_t numel = Expect(t.items[4], Kind::kInt, "storage size").i;
    if (numel < 0 || numel > kMaxElements)
      Fail("storage '" + key + "' has an impossible size " + std::to_string(numel));
    if (t.items.size() == 6 && v_[t.items[5]].kind != Kind::kNone)
      Fail("storage views (view_metadata) are not supported");
    const auto et = ElementType(type.i);
    auto it = storage_index_.find(key);
    if (it == storage_index_.end()) {
      it = storage_index_.emplace(key, storages_.size()).first;
      storages_.push_back({key, et, numel});
    } else if (storages_[it->second].type != et || storages_[it->second].numel != numel) {
      Fail("storage '" + key + "' is declared twice with different types or sizes");
    }
    size_t x = New(Kind::kStorage);
    v_[x].storage = it->second;
    return x;
  }

  std::vector<int64_t> Ints(size_t x, const char* what) const {
    const Value& t = Expect(x, Kind::kTuple, what);
    if (t.items.size() > size_t(kMaxDims)) Fail(std::string("tensor with more than 8 dimensions (") + what + ")");
    std::vector<int64_t> out;
    for (size_t i : t.items) out.push_back(Expect(i, Kind::kInt, what).i);
    return out;
  }

  size_t Reduce(size_t fn, size_t args) {
    const std::string& name = Expect(fn, Kind::kGlobal, "REDUCE target").s;
    const Value& a = Expect(args, Kind::kTuple, "REDUCE arguments");
    if (name == "collections.OrderedDict") {
      if (!a.items.empty()) Fail("OrderedDict built with arguments");
      return New(Kind::kDict);
    }
    if (name == "torch.jit._pickle.restore_type_tag") {  // (value, "Dict[str, Tensor]"): LibTorch's type note
      if (a.items.size() != 2 || v_[a.items[1]].kind != Kind::kStr) Fail("malformed restore_type_tag");
      return a.items[0];
    }
    if (name == "torch._utils._rebuild_parameter") {  // (tensor, requires_grad, hooks): the tensor
      if (a.items.size() < 1 || v_[a.items[0]].kind != Kind::kTensor) Fail("malformed _rebuild_parameter");
      return a.items[0];
    }
    if (name != "torch._utils._rebuild_tensor_v2") Fail("'" + name + "' cannot be called");
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    if (a.items.size() < 4 || a.items.size() > 7) Fail("malformed _rebuild_tensor_v2 arguments");
    TensorView t;
    t.storage = Expect(a.items[0], Kind::kStorage, "tensor storage").storage;
    t.offset = Expect(a.items[1], Kind::kInt, "tensor offset").i;
    t.sizes = Ints(a.items[2], "tensor size");
    t.strides = Ints(a.items[3], "tensor stride");
    if (t.sizes.size() != t.strides.size())
      Fail("tensor with " + std::to_string(t.sizes.size()) + " sizes and " + std::to_string(t.strides.size()) +
           " strides");
    // The view must lie inside its storage: offset + sum((size-1)*stride) < numel, without overflow.
    const int64_t numel = storages_[t.storage].numel;
    if (t.offset < 0 || t.offset > kMaxElements) Fail("tensor with a negative or impossible storage offset");
    // Sizes and strides are at most 2^40 and there are at most 8 of them: 128 bits cannot overflow.
    __int128 last = t.offset, count = 1;
    bool empty = false;
    for (size_t d = 0; d < t.sizes.size(); ++d) {
      if (t.sizes[d] < 0 || t.strides[d] < 0 || t.sizes[d] > kMaxElements || t.strides[d] > kMaxElements)
        Fail("tensor with a negative or impossible size or stride");
      if (t.sizes[d] == 0)
        empty = true;
      else
        last += __int128(t.sizes[d] - 1) * t.strides[d];
      count = std::min<__int128>(count * std::max<int64_t>(t.sizes[d], 1), __int128(kMaxElements) + 1);
    }
    if (count > kMaxElements) Fail("tensor with too many elements");
    if (!empty && last >= numel)
      Fail("a tensor reaches element " + std::to_string(int64_t(std::min<__int128>(last, kMaxElements * 8))) +
           " of storage '" + storages_[t.storage].key + "', which holds " + std::to_string(numel) +
           " (damaged or edited file)");
    tensors_.push_back(std::move(t));
    size_t x = New(Kind::kTensor);
    v_[x].storage = tensors_.size() - 1;
    return x;
  }

  const std::string& d_;
  size_t p_;
  std::string label_;
  size_t* budget_;
  std::vector<Value> v_;
  std::vector<size_t> stack_, marks_, memo_;
  std::vector<StorageRef> storages_;
  std::map<std::string, size_t> storage_index_;
  std::vector<TensorView> tensors_;
};

// The state_dict inside the unpickled value: name -> tensor view index, in file order.
std::vector<std::pair<std::string, size_t>> StateDictOf(const Unpickler& u, size_t root) {
  const Value* dict = &u.at(root);
  if (dict->kind != Kind::kDict) u.Fail("holds no dict of tensors at the top (not a state_dict)");
  for (size_t i = 0; i + 1 < dict->items.size(); i += 2) {
    const Value& k = u.at(dict->items[i]);
    if (k.kind == Kind::kStr && k.s == "state_dict" && u.at(dict->items[i + 1]).kind == Kind::kDict) {
      dict = &u.at(dict->items[i + 1]);
      break;
    }
  }
  std::vector<std::pair<std::string, size_t>> out;
  for (size_t i = 0; i + 1 < dict->items.size(); i += 2) {
    const Value& k = u.at(dict->items[i]);
    const Value& v = u.at(dict->items[i + 1]);
    if (k.kind == Kind::kStr && v.kind == Kind::kTensor) out.emplace_back(k.s, v.storage);
  }
  if (out.empty()) u.Fail("holds no tensors (looked at the top-level dict and under 'state_dict')");
  return out;
}

Checkpoint Assemble(Unpickler& u, size_t root, const std::string& format) {
  Checkpoint c;
  c.format = format;
  for (const auto& [name, view] : StateDictOf(u, root)) {
    const auto& t = u.tensors()[view];
    c.tensors.push_back({name, t.storage, t.offset, t.sizes, t.strides});
  }
  for (auto& s : u.storages()) c.storages.push_back({s.key, s.type, s.numel, {}});
  return c;
}

void SetStorageBytes(CheckpointStorage& s, std::string bytes, const std::string& label) {
  const uint64_t want = uint64_t(s.numel) * uint64_t(ElementSize(s.type));
  if (bytes.size() != want)
    throw InputError(label + ": storage '" + s.key + "' holds " + std::to_string(bytes.size()) + " bytes, its " +
                     std::to_string(s.numel) + " " + ElementTypeName(s.type) + " elements need " +
                     std::to_string(want) + " (truncated or edited file)");
  s.bytes = std::move(bytes);
}

Checkpoint ReadZip(const std::string& bytes, const std::string& label) {
  Zip zip(bytes, label);
  // Records are "<archive>/data.pkl", "<archive>/data/<key>", "<archive>/byteorder", ...
  std::string prefix;
  const ZipEntry* pkl = nullptr;
  for (const auto& [name, e] : zip.entries()) {
    auto slash = name.find('/');
    if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      if (pkl) throw InputError(label + ": two data.pkl records in one archive");
      prefix = name.substr(0, slash + 1);
      pkl = &e;
    }
  }
  if (!pkl) throw InputError(label + ": a zip archive without data.pkl (not a torch.save file)");
  if (pkl->size > kMaxPickleBytes) throw InputError(label + ": data.pkl is implausibly large");
  auto order = zip.entries().find(prefix + "byteorder");
  if (order != zip.entries().end() && zip.Read(order->first, order->second) != "little")
    throw InputError(label + ": saved on a big-endian machine, which visrec does not read");
  const std::string pickle = zip.Read(prefix + "data.pkl", *pkl);
  size_t budget = kMaxValues;
  Unpickler u(pickle, 0, label, &budget);
  size_t root = u.Run();
  Checkpoint c = Assemble(u, root, "zip");
  for (auto& s : c.storages) {
    auto it = zip.entries().find(prefix + "data/" + s.key);
    if (it == zip.entries().end())
      throw InputError(label + ": storage record 'data/" + s.key + "' is missing (truncated or edited file)");
    SetStorageBytes(s, zip.Read(it->first, it->second), label);
  }
  return c;
}

Checkpoint ReadLegacy(const std::string& bytes, const std::string& label) {
  // magic number, protocol version, system info, the object, the storage keys, then each storage's
  // int64 element count and raw bytes in the order of those keys.
  size_t budget = kMaxValues;
  Unpickler magic(bytes, 0, label, &budget);
  const Value& m = magic.at(magic.Run());
  if (m.kind != Kind::kBigInt || m.s != std::string(reinterpret_cast<const char*>(kLegacyMagic), sizeof kLegacyMagic))
    throw InputError(label + ": not a torch.save file (bad magic number)");
  Unpickler proto(bytes, magic.pos(), label, &budget);
  const Value& pv = proto.at(proto.Run());
  if (pv.kind != Kind::kInt || pv.i != 1001)
    throw InputError(label + ": legacy torch.save protocol " + std::to_string(pv.i) + " is not 1001");
  Unpickler info(bytes, proto.pos(), label, &budget);
  const Value& sys = info.at(info.Run());
  if (sys.kind != Kind::kDict) throw InputError(label + ": malformed legacy header");
  for (size_t i = 0; i + 1 < sys.items.size(); i += 2)
    if (info.at(sys.items[i]).s == "little_endian" && info.at(sys.items[i + 1]).i == 0)
      throw InputError(label + ": saved on a big-endian machine, which visrec does not read");
  Unpickler body(bytes, info.pos(), label, &budget);
  size_t root = body.Run();
  Checkpoint c = Assemble(body, root, "legacy");
  Unpickler keys(bytes, body.pos(), label, &budget);
  const Value& list = keys.at(keys.Run());
  if (list.kind != Kind::kList) throw InputError(label + ": malformed list of storage keys");
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < c.storages.size(); ++i) index[c.storages[i].key] = i;
  size_t p = keys.pos();
  std::vector<bool> seen(c.storages.size(), false);
  for (size_t k : list.items) {
    const Value& key = keys.at(k);
    auto it = key.kind == Kind::kStr ? index.find(key.s) : index.end();
    if (it == index.end()) throw InputError(label + ": storage key list names a storage no tensor uses");
    CheckpointStorage& s = c.storages[it->second];
    if (seen[it->second]) throw InputError(label + ": storage '" + s.key + "' is listed twice");
    seen[it->second] = true;
    if (bytes.size() - p < 8) throw InputError(label + ": truncated file (storage '" + s.key + "' is missing)");
    const int64_t n = int64_t(LoadLE(bytes.data() + p, 8));
    p += 8;
    if (n != s.numel)
      throw InputError(label + ": storage '" + s.key + "' records " + std::to_string(n) +
                       " elements, its tensors say " + std::to_string(s.numel) + " (damaged file)");
    const uint64_t len = uint64_t(s.numel) * uint64_t(ElementSize(s.type));
    if (bytes.size() - p < len) throw InputError(label + ": truncated file (storage '" + s.key + "' is cut short)");
    SetStorageBytes(s, bytes.substr(p, size_t(len)), label);
    p += size_t(len);
  }
  for (size_t i = 0; i < seen.size(); ++i)
    if (!seen[i]) throw InputError(label + ": storage '" + c.storages[i].key + "' has no data (truncated file)");
  return c;
}

}  // namespace

bool LooksLikeTorchSave(const std::string& b) {
  if (b.compare(0, 4, "PK\x03\x04") == 0) return true;
  return b.size() > 3 && uint8_t(b[0]) == 0x80 && uint8_t(b[2]) == 0x8a;
}

Checkpoint ReadTorchCheckpoint(const std::string& bytes, const std::string& label) {
  if (bytes.compare(0, 4, "PK\x03\x04") == 0) return ReadZip(bytes, label);
  if (LooksLikeTorchSave(bytes)) return ReadLegacy(bytes, label);
  throw InputError(label + ": not a torch.save file (neither a zip archive nor the legacy format)");
}

}  // namespace visrec
