// PyTorch checkpoint files (torch.save of a state_dict, as torchvision publishes its weights),
// read without Python and without executing anything: the zip archive (PyTorch >= 1.6) or the
// legacy stream, and a bounded pickle reader that knows only the opcodes and the few globals a
// state_dict uses (collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter,
// the typed storage classes; LibTorch's pickle_save adds torch.jit._pickle.restore_type_tag). Anything
// else is an InputError naming it. Torch-free, so it is fuzzed
// on its own; visrec/model turns the result into tensors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace visrec {

enum class ElementType { kFloat, kDouble, kHalf, kBFloat16, kLong, kInt, kShort, kChar, kByte, kBool };
int ElementSize(ElementType type);
const char* ElementTypeName(ElementType type);  // the storage class, e.g. "FloatStorage"

struct CheckpointStorage {
  std::string key;  // the archive's storage key
  ElementType type = ElementType::kFloat;
  int64_t numel = 0;
  std::string bytes;  // numel * ElementSize(type), little-endian
};

struct CheckpointTensor {
  std::string name;
  size_t storage = 0;  // index into Checkpoint::storages
  int64_t offset = 0;  // in elements
  std::vector<int64_t> sizes, strides;
};

struct Checkpoint {
  std::string format;  // "zip" or "legacy"
  std::vector<CheckpointStorage> storages;
  std::vector<CheckpointTensor> tensors;  // in file order; every view checked against its storage
};

// True when the bytes start like a torch.save file (zip archive or legacy magic number).
bool LooksLikeTorchSave(const std::string& bytes);
// Reads a state_dict saved by torch.save: a dict or OrderedDict of name -> tensor at the top, or
// under a "state_dict" key. Non-tensor values are skipped. `label` names the file in errors.
Checkpoint ReadTorchCheckpoint(const std::string& bytes, const std::string& label);

}  // namespace visrec
