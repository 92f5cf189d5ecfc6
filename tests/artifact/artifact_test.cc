#include "visrec/artifact/artifact.h"
#include "visrec/artifact/stage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "../test_util.h"
#include "visrec/artifact/stage_versions.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/sha256.h"

namespace visrec {
namespace {

Artifact MakeArtifact(const fs::path& workdir, const json& params, float value = 1.f) {
  ArtifactBuilder b(workdir, "demo", 1, params, {{"in", "file", "/x", "abc"}});
  std::vector<float> v(6, value);
  WriteNpy(b.Path("v.npy"), DType::kF32, {2, 3}, v.data());
  WriteFileAtomic(b.Path("ids.txt"), "a\nb\n");
  b.AddOutput("v.npy");
  b.AddOutput("ids.txt");
  b.counts()["rows"] = 2;
  b.AddFailure("c", "c.jpg", "broken");
  return b.Commit();
}

void ExpectArtifactError(const fs::path& p, const std::string& fragment, VerifyLevel level = VerifyLevel::kCheap) {
  try {
    OpenArtifact(p, level);
    FAIL() << "expected an error containing '" << fragment << "'";
  } catch (const ArtifactError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(ArtifactKey, StableAndIndependentOfOptionOrder) {
  json a = json::parse(R"({"dims": 64, "method": "exact", "nested": {"x": 1, "y": [1, 2]}})");
  json b = json::parse(R"({"nested": {"y": [1, 2], "x": 1}, "method": "exact", "dims": 64})");
  std::vector<ArtifactInput> in{{"extract", "artifact", "/some/path", "d1"}};
  std::vector<ArtifactInput> moved{{"extract", "artifact", "/other/path", "d1"}};
  EXPECT_EQ(ComputeArtifactKey("reduce", 1, a, in), ComputeArtifactKey("reduce", 1, b, in));
  EXPECT_EQ(ComputeArtifactKey("reduce", 1, a, in), ComputeArtifactKey("reduce", 1, a, moved))
      << "paths are not identity";
  // A pinned value: the key must not drift between builds or machines.
  EXPECT_EQ(ComputeArtifactKey("reduce", 1, a, in).size(), 64u);
  EXPECT_EQ(ComputeArtifactKey("reduce", 1, a, in), ComputeArtifactKey("reduce", 1, a, in));
  EXPECT_NE(ComputeArtifactKey("reduce", 1, a, in), ComputeArtifactKey("reduce", 2, a, in));
  json c = a;
  c["dims"] = 32;
  EXPECT_NE(ComputeArtifactKey("reduce", 1, a, in), ComputeArtifactKey("reduce", 1, c, in));
  std::vector<ArtifactInput> other{{"extract", "artifact", "/some/path", "d2"}};
  EXPECT_NE(ComputeArtifactKey("reduce", 1, a, in), ComputeArtifactKey("reduce", 1, a, other));
}

TEST(Artifact, RoundTripAndLatest) {
  testing::TempDir d;
  Artifact a = MakeArtifact(d.path(), {{"p", 1}});
  EXPECT_EQ(a.stage, "demo");
  EXPECT_EQ(a.dir.filename().string(), a.key.substr(0, 16));
  Artifact b = OpenLatest(d.path(), "demo", VerifyLevel::kFull);
  EXPECT_EQ(b.dir, a.dir);
  EXPECT_EQ(b.content_digest, a.content_digest);
  EXPECT_EQ(b.manifest_json["counts"]["rows"], 2);
  EXPECT_EQ(b.manifest_json["failures"][0]["reason"], "broken");
  EXPECT_EQ(b.manifest_json["schema_version"], kArtifactSchemaVersion);
  auto v = b.ReadArray<float>("v.npy");
  EXPECT_EQ(v.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_THROW(b.ReadArray<float>("nope.npy"), ArtifactError);
  // A second version with other parameters lives beside the first; latest follows it.
  Artifact c = MakeArtifact(d.path(), {{"p", 2}});
  EXPECT_NE(c.dir, a.dir);
  EXPECT_TRUE(fs::exists(a.dir / "manifest.json"));
  EXPECT_EQ(OpenLatest(d.path(), "demo").dir, c.dir);
  ASSERT_TRUE(FindArtifact(d.path(), "demo", a.key).has_value());
  EXPECT_FALSE(FindArtifact(d.path(), "demo", std::string(64, '0')).has_value());
  // A pointer edited by hand (CRLF, spaces, tabs around the key) still names its version, through
  // the stage folder and as a named pointer; one holding only whitespace is damaged.
  const std::string key = a.dir.filename().string();
  for (const std::string text : {key + "\r\n", " " + key, "\t" + key + " \n\n"}) {
    testing::WriteText(d / "demo" / "latest", text);
    testing::WriteText(d / "demo" / "latest.shard-0-of-2", text);
    EXPECT_EQ(OpenLatest(d.path(), "demo").dir, a.dir);
    EXPECT_EQ(OpenArtifact(d / "demo").dir, a.dir);
    EXPECT_EQ(OpenLatest(d.path(), "demo", VerifyLevel::kCheap, "latest.shard-0-of-2").dir, a.dir);
  }
  testing::WriteText(d / "demo" / "latest", " \r\n");
  EXPECT_THROW(OpenLatest(d.path(), "demo"), ArtifactError);
}

TEST(Artifact, ContentDigestIgnoresTimings) {
  testing::TempDir d1, d2;
  Artifact a = MakeArtifact(d1 / "w", {{"p", 1}});
  Artifact b = MakeArtifact(d2 / "w", {{"p", 1}});
  EXPECT_EQ(a.content_digest, b.content_digest);
  Artifact c = MakeArtifact(d2 / "x", {{"p", 1}}, 5.f);
  EXPECT_NE(a.content_digest, c.content_digest) << "different bytes, different digest";
}

TEST(Artifact, MissingManifestIsNotAnArtifact) {
  testing::TempDir d;
  Artifact a = MakeArtifact(d.path(), {{"p", 1}});
  fs::remove(a.dir / "manifest.json");
  ExpectArtifactError(a.dir, "no manifest.json");
  EXPECT_FALSE(FindArtifact(d.path(), "demo", a.key).has_value());
}

TEST(Artifact, TruncatedOutput) {
  testing::TempDir d;
  Artifact a = MakeArtifact(d.path(), {{"p", 1}});
  fs::resize_file(a.dir / "v.npy", fs::file_size(a.dir / "v.npy") - 4);
  ExpectArtifactError(a.dir, "bytes, manifest says");
}

TEST(Artifact, DigestMismatchCaughtByFullVerify) {
  testing::TempDir d;
  Artifact a = MakeArtifact(d.path(), {{"p", 1}});
  std::string s = testing::ReadText(a.dir / "ids.txt");
  s[0] = 'z';  // same size, different bytes
  testing::WriteText(a.dir / "ids.txt", s);
  EXPECT_NO_THROW(OpenArtifact(a.dir, VerifyLevel::kCheap));
  ExpectArtifactError(a.dir, "sha256", VerifyLevel::kFull);
  auto issues = VerifyLineage(a.dir, nullptr);
  ASSERT_EQ(issues.size(), 1u);
}

TEST(Artifact, NewerSchemaNamesBothVersions) {
  testing::TempDir d;
  Artifact a = MakeArtifact(d.path(), {{"p", 1}});
  json m = a.manifest_json;
  m["schema_version"] = kArtifactSchemaVersion + 1;
  testing::WriteText(a.dir / "manifest.json", m.dump());
  ExpectArtifactError(a.dir, "schema version " + std::to_string(kArtifactSchemaVersion + 1));
  ExpectArtifactError(a.dir, "reads up to version " + std::to_string(kArtifactSchemaVersion));
}

TEST(Artifact, NewerStageVersionNamesBothVersionsAndOlderOnesStillRead) {
  testing::TempDir d;
  const int known = stage_version::Known("reduce");
  ASSERT_GT(known, 0);
  for (int version : {known - 1, known, known + 1, known + 7}) {
    ArtifactBuilder b(d.path() / std::to_string(version), "reduce", known, {{"p", 1}}, {});
    WriteFileAtomic(b.Path("ids.txt"), "a\n");
    b.AddOutput("ids.txt");
    const fs::path dir = b.Commit().dir;
    json m = OpenArtifact(dir).manifest_json;
    m["stage_version"] = version;                           // as a newer (or older) visrec would have written it
    if (version == known + 7) m["producer"]["visrec"] = 1;  // a damaged producer still gives the error
    testing::WriteText(dir / "manifest.json", m.dump());
    if (version <= known) {
      EXPECT_EQ(OpenArtifact(dir).stage, "reduce");
      continue;
    }
    ExpectArtifactError(dir, "reduce stage version " + std::to_string(version));
    ExpectArtifactError(dir, "reads reduce up to version " + std::to_string(known));
    if (version == known + 7) ExpectArtifactError(dir, "(visrec ?)");
    try {  // the documented exit 4, through the latest pointer too
      OpenLatest(d.path() / std::to_string(version), "reduce");
      ADD_FAILURE() << "a newer stage version was read";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kArtifact) << e.what();
    }
  }
  // A stage this visrec does not know is not refused for its version (the readers check the stage).
  ArtifactBuilder other(d.path() / "other", "demo", 99, {{"p", 1}}, {});
  WriteFileAtomic(other.Path("ids.txt"), "a\n");
  other.AddOutput("ids.txt");
  EXPECT_EQ(OpenArtifact(other.Commit().dir).stage, "demo");
  // A stage version that is not an integer is a damaged manifest.
  Artifact a = MakeArtifact(d.path() / "bad", {{"p", 1}});
  json m = a.manifest_json;
  m["stage_version"] = "2";
  testing::WriteText(a.dir / "manifest.json", m.dump());
  ExpectArtifactError(a.dir, "not an integer");
}

TEST(Artifact, CorruptManifest) {
  testing::TempDir d;
  Artifact a = MakeArtifact(d.path(), {{"p", 1}});
  testing::WriteText(a.dir / "manifest.json", "{not json");
  ExpectArtifactError(a.dir, "not valid JSON");
}

TEST(Artifact, BadNpyHeaderInsideArtifact) {
  testing::TempDir d;
  Artifact a = MakeArtifact(d.path(), {{"p", 1}});
  std::string s = testing::ReadText(a.dir / "v.npy");
  s[1] = 'X';
  testing::WriteText(a.dir / "v.npy", s);
  ExpectArtifactError(a.dir, "magic");
}

TEST(Artifact, WrongDtypeAgainstManifest) {
  testing::TempDir d;
  Artifact a = MakeArtifact(d.path(), {{"p", 1}});
  std::string s = testing::ReadText(a.dir / "v.npy");
  s.replace(s.find("<f4"), 3, "<i4");
  testing::WriteText(a.dir / "v.npy", s);
  ExpectArtifactError(a.dir, "holds int32, manifest says float32");
}

TEST(Artifact, InterruptedWriteLeavesPreviousIntact) {
  testing::TempDir d;
  Artifact good = MakeArtifact(d.path(), {{"p", 1}});
  for (const char* point : {"before-manifest", "before-rename"}) {
    ::setenv("VISREC_FAIL_AT", point, 1);
    EXPECT_THROW(MakeArtifact(d.path(), {{"p", 2}}), IoError) << point;
    ::unsetenv("VISREC_FAIL_AT");
    // Nothing visible: no new version directory, no staging leftovers, latest unchanged.
    int dirs = 0;
    for (auto& e : fs::directory_iterator(d / "demo"))
      if (e.is_directory()) ++dirs;
    EXPECT_EQ(dirs, 1) << point;
    EXPECT_EQ(OpenLatest(d.path(), "demo", VerifyLevel::kFull).dir, good.dir) << point;
  }
}

TEST(Artifact, LeftoversOfADeadWriterAreCleanedUp) {
  testing::TempDir d;
  MakeArtifact(d.path(), {{"p", 1}});
  // pid 2^22+1 is above Linux's pid_max default range: no such process.
  fs::path stale = d / "demo" / ".tmp-0123456789abcdef-4194305-1-0";
  fs::create_directories(stale);
  testing::WriteText(stale / "v.npy", "partial");
  fs::path live = d / "demo" / (".tmp-0123456789abcdef-" + std::to_string(::getpid()) + "-1-0");
  fs::create_directories(live);
  MakeArtifact(d.path(), {{"p", 2}});
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live)) << "a running writer's staging directory is left alone";
  // Names carry the writer's host: a process id is judged on its own host only (another pod or node
  // writing into the same shared workdir has ids this host cannot see).
  char host[256] = {0};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  const std::string mine = "h" + Sha256Hex(host).substr(0, 8);
  const std::string other = mine == "h00000000" ? "h11111111" : "h00000000";
  const fs::path dead_here = d / "demo" / (".tmp-0123456789abcdef-4194305-" + mine + "-1-0");
  const fs::path elsewhere = d / "demo" / (".tmp-0123456789abcdef-4194305-" + other + "-1-0");
  fs::create_directories(dead_here);
  fs::create_directories(elsewhere);
  MakeArtifact(d.path(), {{"p", 3}});
  EXPECT_FALSE(fs::exists(dead_here)) << "this host's dead writer is cleaned up";
  EXPECT_TRUE(fs::exists(elsewhere)) << "another host's writer was judged by a local process id";
}

TEST(Artifact, RewritingTheSameKeySwapsInOneStepAndLeavesNothingBehind) {
  testing::TempDir d;
  Artifact first = MakeArtifact(d.path(), {{"p", 1}});
  Artifact second = MakeArtifact(d.path(), {{"p", 1}});  // same key: a forced rewrite
  EXPECT_EQ(first.dir, second.dir);
  int entries = 0;
  for (auto& e : fs::directory_iterator(d / "demo")) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 2) << "the key directory and latest only";
  EXPECT_NO_THROW(OpenLatest(d.path(), "demo", VerifyLevel::kFull));
}

TEST(Artifact, PreviousCopyOfAnInterruptedSwapIsRestored) {
  testing::TempDir d;
  Artifact good = MakeArtifact(d.path(), {{"p", 1}});
  // A writer killed between "move the old copy aside" and "move the new one in" (the fallback path
  // on filesystems without an atomic exchange) leaves the good copy as .old-<key16>-<dead pid>-...
  fs::path aside = d / "demo" / (".old-" + good.dir.filename().string() + "-4194305-1-0");
  fs::rename(good.dir, aside);
  MakeArtifact(d.path(), {{"p", 2}});
  EXPECT_TRUE(fs::exists(good.dir / "manifest.json"));
  EXPECT_FALSE(fs::exists(aside));
  EXPECT_NO_THROW(OpenArtifact(good.dir, VerifyLevel::kFull));
}

TEST(Artifact, LatestPointerDamaged) {
  testing::TempDir d;
  MakeArtifact(d.path(), {{"p", 1}});
  testing::WriteText(d / "demo" / "latest", "../../etc\n");
  EXPECT_THROW(OpenLatest(d.path(), "demo"), ArtifactError);
  EXPECT_THROW(OpenLatest(d.path(), "nostage"), ArtifactError);
}

TEST(Shards, ParseAndAStablePartitionById) {
  EXPECT_EQ(ShardSpec::Parse("1/3").Text(), "1/3");
  EXPECT_EQ(ShardSpec::Parse("1/3").Pointer(), "latest.shard-1-of-3");
  EXPECT_EQ(ShardSpec{}.Pointer(), "latest");
  for (const char* bad : {"3/3", "-1/3", "1/0", "a/b", "1", "", "1/3/4"})
    EXPECT_THROW(ShardSpec::Parse(bad), UsageError) << bad;
  // Pinned against Python: int(hashlib.sha256(id.encode()).hexdigest()[:16], 16) % N.
  const std::vector<std::tuple<std::string, int, int>> pinned{
      {"P0001", 1, 3}, {"P0002", 1, 3}, {"item with space", 0, 0}, {"\xc3\xa9", 0, 3}};
  for (const auto& [id, of3, of7] : pinned) {
    EXPECT_TRUE((ShardSpec{of3, 3}.Owns(id))) << id;
    EXPECT_TRUE((ShardSpec{of7, 7}.Owns(id))) << id;
  }
  // Every id in exactly one shard, and no shard empty on 300 ids.
  std::vector<int> sizes(5, 0);
  for (int i = 0; i < 300; ++i) {
    int owners = 0;
    for (int k = 0; k < 5; ++k)
      if (ShardSpec{k, 5}.Owns("item-" + std::to_string(i))) {
        ++owners;
        ++sizes[size_t(k)];
      }
    EXPECT_EQ(owners, 1);
  }
  for (int n : sizes) EXPECT_GT(n, 30);
}

// A child artifact reading `parent` (as a stage would), in the same workdir.
Artifact MakeChild(const fs::path& workdir, const Artifact& parent) {
  ArtifactBuilder b(workdir, "child", 1, {{"p", 1}}, {parent.AsInput("demo")});
  WriteFileAtomic(b.Path("out.txt"), "x\n");
  b.AddOutput("out.txt");
  return b.Commit();
}

void EditManifest(const fs::path& dir, const std::function<void(json&)>& edit) {
  json m = json::parse(ReadFileBytes(dir / "manifest.json"));
  edit(m);
  WriteFileAtomic(dir / "manifest.json", m.dump(2));
}

std::string Problems(const fs::path& p) {
  std::string all;
  for (const auto& i : VerifyLineage(p, nullptr)) all += i.problem + "\n";
  return all;
}

// Issue 18, item 8(a): verify covers the manifest itself, not only the data files.
TEST(Verify, EditedManifestsAreFound) {
  testing::TempDir d;
  const fs::path w = d / "w";
  Artifact parent = MakeArtifact(w, {{"dims", 4}});
  Artifact child = MakeChild(w, parent);
  EXPECT_EQ(Problems(child.dir), "");

  // Counts edited: the manifest's own digest shows it.
  EditManifest(parent.dir, [](json& m) { m["counts"]["rows"] = 99; });
  EXPECT_NE(Problems(parent.dir).find("edited after it was written"), std::string::npos);
  // ... and with that digest recomputed too, the child's record of it still shows it.
  EditManifest(parent.dir, [](json& m) { m["manifest_sha256"] = ManifestBodyDigest(m); });
  EXPECT_EQ(Problems(parent.dir), "");
  EXPECT_NE(Problems(child.dir).find("manifest of parent"), std::string::npos);

  // Params edited (digest recomputed): the key no longer follows from them.
  Artifact other = MakeArtifact(d / "w2", {{"dims", 4}});
  EditManifest(other.dir, [](json& m) {
    m["params"]["dims"] = 8;
    m["manifest_sha256"] = ManifestBodyDigest(m);
  });
  EXPECT_NE(Problems(other.dir).find("its key does not follow"), std::string::npos);

  // An outputs entry removed (sizes then unchecked): the unlisted file shows.
  Artifact third = MakeArtifact(d / "w3", {{"dims", 4}});
  EditManifest(third.dir, [](json& m) {
    m["outputs"].erase(1);  // ids.txt
    m["manifest_sha256"] = ManifestBodyDigest(m);
  });
  EXPECT_NE(Problems(third.dir).find("'ids.txt' is not listed"), std::string::npos);
}

// Item 8(b, c): a copied workdir is checked on its own files; a workdir verifies stage by stage,
// each artifact once.
TEST(Verify, CopiedWorkdirsAndWholeWorkdirs) {
  testing::TempDir d;
  const fs::path w = d / "w", copy = d / "copy";
  Artifact parent = MakeArtifact(w, {{"dims", 4}});
  MakeArtifact(w, {{"dims", 5}});  // an older version beside the latest
  MakeArtifact(w, {{"dims", 4}});  // latest again
  Artifact child = MakeChild(w, parent);
  fs::copy(w, copy, fs::copy_options::recursive);
  const fs::path copied_child = copy / "child" / child.dir.filename();
  const fs::path copied_parent = copy / "demo" / parent.dir.filename();
  EXPECT_EQ(ResolveRecordedPath(OpenArtifact(copied_child), parent.dir.string(), "artifact"), copied_parent);
  // Damage the copy's parent only: verify of the copy finds it, the original stays clean.
  std::string ids = ReadFileBytes(copied_parent / "ids.txt");
  ids[0] = 'z';
  testing::WriteText(copied_parent / "ids.txt", ids);
  EXPECT_NE(Problems(copied_child).find(copied_parent.string()), std::string::npos);
  EXPECT_EQ(Problems(child.dir), "");

  EXPECT_EQ(WorkdirArtifacts(w, false), (std::vector<fs::path>{w / "child", w / "demo"}));
  EXPECT_EQ(WorkdirArtifacts(w, true).size(), 3u);
  // The stage folder and its latest version, and the child's lineage, check each artifact once.
  std::vector<std::string> checked;
  EXPECT_TRUE(VerifyLineage(std::vector<fs::path>{w / "demo", parent.dir, w / "child"}, &checked).empty());
  EXPECT_EQ(checked.size(), 2u);
}

// A parent given with a trailing separator ("w/demo/KEY/", as shells complete folders) is the same
// artifact: its child records the folder and verifies clean; a path recorded with the separator
// (older versions wrote what was typed) resolves into a copied workdir.
TEST(Verify, AParentGivenWithATrailingSlashIsTheSameArtifact) {
  testing::TempDir d;
  const fs::path w = d / "w", copy = d / "copy";
  const Artifact parent = MakeArtifact(w, {{"dims", 4}});
  const Artifact opened = OpenArtifact(parent.dir.string() + "/");
  EXPECT_EQ(opened.dir, parent.dir);
  const Artifact child = MakeChild(w, opened);
  EXPECT_EQ(child.manifest.inputs.at(0).path, parent.dir.string());
  EXPECT_EQ(Problems(child.dir), "");
  fs::copy(w, copy, fs::copy_options::recursive);
  const fs::path copied_child = copy / "child" / child.dir.filename();
  EXPECT_EQ(ResolveRecordedPath(OpenArtifact(copied_child), parent.dir.string() + "/", "artifact"),
            copy / "demo" / parent.dir.filename());
}

// A workdir where only shards ran has no `latest`, only shard pointers: verify finds those
// artifacts (it used to say the workdir held none).
TEST(Verify, AWorkdirOfShardsOnlyListsTheShards) {
  testing::TempDir d;
  const fs::path w = d / "w";
  std::vector<fs::path> shards;
  for (int i = 0; i < 2; ++i) {
    ArtifactBuilder b(w, "demo", 1, {{"shard", std::to_string(i) + "/2"}}, {});
    WriteFileAtomic(b.Path("ids.txt"), "a\n");
    b.AddOutput("ids.txt");
    b.set_pointer("latest.shard-" + std::to_string(i) + "-of-2");
    shards.push_back(b.Commit().dir);
  }
  ASSERT_FALSE(fs::exists(w / "demo" / "latest"));
  std::sort(shards.begin(), shards.end());
  EXPECT_EQ(WorkdirArtifacts(w, false), shards);
  std::vector<std::string> checked;
  EXPECT_TRUE(VerifyLineage(WorkdirArtifacts(w, false), &checked).empty());
  EXPECT_EQ(checked.size(), 2u);
  // A damaged pointer names nothing; the other shard is still listed.
  testing::WriteText(w / "demo" / "latest.shard-1-of-2", "../../etc\n");
  EXPECT_EQ(WorkdirArtifacts(w, false).size(), 1u);
}

// Also of issue 18: two concurrent writers of one (stage, key) take turns.
TEST(StageLock, ASecondWriterWaitsForTheFirst) {
  testing::TempDir d;
  const fs::path w = d / "w";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    LockStageKey(w, "demo", "0123456789abcdef0123");
    testing::WriteText(d / "locked", "1");
    ::usleep(400 * 1000);
    testing::WriteText(d / "released", "1");
    UnlockStageKey(w, "demo", "0123456789abcdef0123");
    ::_exit(0);
  }
  while (!fs::exists(d / "locked")) ::usleep(5 * 1000);
  LockStageKey(w, "demo", "0123456789abcdef0123");
  EXPECT_TRUE(fs::exists(d / "released")) << "the second writer got the lock while the first held it";
  LockStageKey(w, "demo", "0123456789abcdef0123");  // re-entrant within a process: no self-deadlock
  UnlockStageKey(w, "demo", "0123456789abcdef0123");
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(status, 0);
}

}  // namespace
}  // namespace visrec
