// Flag bindings shared by the `visrec` binary and the GPU-node build's `visrec-gpu` (same flags,
// same defaults): the CLI only binds flags into each stage's Options struct.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

#include "visrec/extract/extract.h"
#include "visrec/finetune/finetune.h"

namespace visrec::cli {

inline void BindExtract(CLI::App* c, extract::ExtractOptions& o) {
  c->add_option("--model", o.model, "resnet18 | resnet34 | resnet50 | resnet101")->capture_default_str();
  c->add_option("--model-file", o.model_file, "TorchScript model (+ optional sidecar .json)");
  c->add_option("--weights", o.weights, "torchvision weights as a plain dict (tools/convert-weights.py)");
  c->add_option("--init-seed", o.init_seed, "seed of the untrained initialisation")->capture_default_str();
  c->add_option("--device", o.device, "auto | cpu | cuda")->capture_default_str();
  c->add_option("--precision", o.precision, "fp32 | bf16 | fp16")->capture_default_str();
  c->add_option("--channels-last", o.channels_last, "NHWC activations")->capture_default_str();
  c->add_option("--batch-size", o.batch_size, "images per forward pass")->capture_default_str();
}

// The finetune subcommand's own inputs and model (in `run` these are extract's).
inline void BindFinetuneInputs(CLI::App* c, finetune::FinetuneOptions& o) {
  c->add_option("--preprocess", o.preprocess, "preprocess artifact (default: latest in workdir)");
  c->add_option("--catalog", o.catalog, "catalog CSV with labels (default: the one preprocess read)");
  c->add_option("--label-column", o.label_column, "catalog column holding each item's class")->required();
  c->add_option("--model", o.model, "resnet18 | resnet34 | resnet50 | resnet101")->capture_default_str();
  c->add_option("--weights", o.weights, "starting weights: torchvision state dict (tools/convert-weights.py)");
  c->add_option("--init-seed", o.init_seed, "seed of the initialisation without --weights")->capture_default_str();
  c->add_option("--device", o.device, "auto | cpu | cuda")->capture_default_str();
  c->add_option("--precision", o.precision, "fp32 | bf16 | fp16 (autocast)")->capture_default_str();
}

inline // Training options of finetune; `run` prefixes them with "finetune-" (its --model, --weights,
// --device, --precision are extract's, shared with finetune).
void BindFinetune(CLI::App* c, finetune::FinetuneOptions& o, const std::string& pre) {
  c->add_option("--" + pre + "train", o.train, "what trains: head | last-block | all")->capture_default_str();
  c->add_option("--" + pre + "epochs", o.epochs, "most epochs (early stopping may end sooner)")->capture_default_str();
  c->add_option("--" + pre + "batch-size", o.batch_size, "photos per training step")->capture_default_str();
  c->add_option("--" + pre + "lr", o.lr, "Adam learning rate of the new head")->capture_default_str();
  c->add_option("--" + pre + "backbone-lr-scale", o.backbone_lr_scale, "trained backbone layers' rate = lr x this")
      ->capture_default_str();
  c->add_option("--" + pre + "weight-decay", o.weight_decay, "Adam weight decay")->capture_default_str();
  c->add_option("--" + pre + "seed", o.seed, "split, head init, order, augmentation")->capture_default_str();
  c->add_option("--" + pre + "dev-fraction", o.dev_fraction, "items per class for early stopping")->capture_default_str();
  c->add_option("--" + pre + "test-fraction", o.test_fraction, "items per class held out for testing")->capture_default_str();
  c->add_option("--" + pre + "patience", o.patience, "epochs without a better dev accuracy before stopping")
      ->capture_default_str();
  c->add_option("--" + pre + "augment", o.augment, "mirror (and crop/jitter with --train all)")->capture_default_str();
  c->add_option("--" + pre + "cache-limit-mb", o.cache_limit_mb, "most memory for cached frozen-layer output")
      ->capture_default_str();
}

}  // namespace visrec::cli
