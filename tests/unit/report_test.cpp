// The report builder on runs laid out as lumos explain leaves them: merging, duplicates, paths,
// thumbnails, the self-contained threshold and summary.csv.
#include "lumos/error.hpp"
#include "lumos/explanation_files.hpp"
#include "lumos/render.hpp"
#include "lumos/report.hpp"
#include "report/summary_csv.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path work_dir() {
  static const fs::path dir = [] {
    const auto path = fs::temp_directory_path() / ("lumos_report_test_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
    return path;
  }();
  return dir;
}

std::string read_all(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream s;
  s << file.rdbuf();
  return s.str();
}

// The gallery's data, from report_data.js or the script inside a self-contained report.html.
json gallery_data(const lumos::ReportWritten& written) {
  const std::string text = read_all(written.data.empty() ? written.html : written.data);
  const size_t start = text.find("LUMOS_DATA=") + 11;
  const size_t end = text.find(";\n", start);
  return json::parse(text.substr(start, end - start));
}

// An image folder as write_image_folder makes it: a 300x200 picture, Grad-CAM for `label` with
// the number `energy`, optional thumbnails.
void write_image(const fs::path& run, const std::string& folder, const std::string& image, const std::string& label,
                 double probability, double energy, const std::string& layer = "layer4", bool thumbnails = true) {
  const fs::path dir = run / folder;
  fs::create_directories(dir);
  const cv::Mat pixels(200, 300, CV_8UC3, cv::Scalar(40, 120, 200));
  const std::string stem = "gradcam_" + label;
  for (const std::string& file : {std::string("input.png"), stem + ".png"}) {
    lumos::save_png(pixels, (dir / file).string());
    if (thumbnails) {
      lumos::save_png(lumos::thumbnail(pixels), (dir / lumos::thumbnail_file(file)).string());
    }
  }
  const json record{
      {"image", image},
      {"size", {300, 200}},
      {"thumbnail", "input.thumb.jpg"},
      {"model", "models/net.onnx"},
      {"scores", "logits"},
      {"preprocess", "imagenet"},
      {"settings", {{"methods", "gradcam"}, {"target", "top1"}, {"CAM layer", layer}}},
      {"predictions", {{{"class", 1}, {"label", label}, {"probability", probability}, {"score", 2.5}},
                       {{"class", 0}, {"label", ""}, {"probability", 1 - probability}, {"score", 0.5}}}},
      {"targets",
       {{{"class", 1},
         {"label", label},
         {"probability", probability},
         {"score", 2.5},
         {"methods",
          {{{"method", "gradcam"},
            {"file", stem + ".png"},
            {"thumbnail", stem + ".thumb.jpg"},
            {"time_ms", 12.25},
            {"empty", false},
            {"energy_in_box", energy}}}}}}}};
  std::ofstream(dir / "explanation.json") << record.dump(2);
}

void write_run_json(const fs::path& run, const std::vector<lumos::RunRecordEntry>& entries) {
  lumos::write_run_record(run.string(), entries);
}

}  // namespace

TEST(Report, MergesRunsInOrderAndShowsAnImageExplainedTheSameWayOnce) {
  const fs::path a = work_dir() / "merge" / "shard_a", b = work_dir() / "merge" / "shard_b";
  write_image(a, "cat", "photos/cat.png", "cat", 0.9, 0.5);
  write_image(a, "dog", "photos/dog.png", "dog", 0.4, 0.25);
  write_run_json(a, {{"photos/cat.png", "cat", ""}, {"photos/bad.png", "", "cannot read 'photos/bad.png'"},
                     {"photos/dog.png", "dog", ""}});
  write_image(b, "cat", "photos/cat.png", "cat", 0.9, 0.5);                  // the same again: shown once
  write_image(b, "owl", "photos/cat.png", "cat", 0.9, 0.7, "layer3");       // another layer: shown as well
  write_image(b, "zebra", "photos/zebra.png", "zebra", 0.6, 0.1);
  write_image(b, ".hidden.partial", "photos/half.png", "x", 0.5, 0.5);      // a folder being written
  // shard_b has no run.json (an interrupted run): its folders, sorted.
  const auto out = work_dir() / "merge" / "report";
  lumos::ReportOptions options;
  options.self_contained = false;
  const auto written = lumos::write_report({a.string(), b.string(), a.string()}, out.string(), options);
  EXPECT_EQ(written.images, 5u);
  EXPECT_EQ(written.failed, 1u);
  ASSERT_EQ(written.notes.size(), 1u);
  EXPECT_NE(written.notes[0].find("1 image was explained with the same settings in more than one run"),
            std::string::npos)
      << written.notes[0];

  const json data = gallery_data(written);
  EXPECT_EQ(data["title"], "lumos — net.onnx");
  ASSERT_EQ(data["runs"].size(), 2u);  // shard_a given twice counts once
  std::vector<std::string> images, folders;
  for (const auto& image : data["images"]) {
    images.push_back(image["i"]);
    folders.push_back(image.value("d", ""));
  }
  EXPECT_EQ(images, (std::vector<std::string>{"photos/cat.png", "photos/bad.png", "photos/dog.png", "photos/cat.png",
                                              "photos/zebra.png"}));
  // Folders relative to the report; the failure has none.
  EXPECT_EQ(folders, (std::vector<std::string>{"../shard_a/cat", "", "../shard_a/dog", "../shard_b/owl",
                                               "../shard_b/zebra"}));
  EXPECT_EQ(data["images"][1]["err"], "cannot read 'photos/bad.png'");
  ASSERT_EQ(data["settings"].size(), 2u);  // layer4 and layer3
  EXPECT_EQ(data["settings"][1]["CAM layer"], "layer3");
  EXPECT_EQ(data["settings"][0]["model"], "models/net.onnx");
  const auto& gradcam = data["images"][0]["t"][0]["m"][0];
  EXPECT_EQ(gradcam["f"], "gradcam_cat.png");
  EXPECT_EQ(gradcam["th"], "gradcam_cat.thumb.jpg");
  EXPECT_EQ(gradcam["x"]["energy_in_box"], 0.5);
  EXPECT_EQ(gradcam["ms"], 12.25);
  EXPECT_EQ(data["images"][0]["p"][1][1], "class 0");  // a class without a name
  EXPECT_TRUE(fs::exists(out / "report.html"));
  EXPECT_EQ(read_all(out / "report.html").find("LUMOS_DATA={"), std::string::npos);  // the data is in its own file
}

TEST(Report, CountsWhatItShows) {
  const fs::path run = work_dir() / "count" / "run";
  write_image(run, "a", "a.png", "cat", 0.9, 0.5);
  write_image(run, "b", "b.png", "cat", 0.8, 0.5);
  const auto written = lumos::write_report({run.string()}, (work_dir() / "count" / "out").string());
  EXPECT_EQ(written.images, 2u);
  EXPECT_EQ(written.failed, 0u);
  EXPECT_TRUE(written.notes.empty());
}

TEST(Report, SmallReportsEmbedTheirPicturesLargeOnesLinkThem) {
  const fs::path run = work_dir() / "sizes" / "run";
  for (size_t i = 0; i < lumos::kSelfContainedImages; ++i) {
    write_image(run, "img" + std::to_string(i), "img" + std::to_string(i) + ".png", "cat", 0.9, 0.5);
  }
  const auto small = lumos::write_report({run.string()}, (work_dir() / "sizes" / "small").string());
  EXPECT_TRUE(small.self_contained);
  EXPECT_TRUE(small.data.empty());
  const json embedded = gallery_data(small);
  EXPECT_EQ(embedded["images"][0]["in"].get<std::string>().rfind("data:image/png;base64,", 0), 0u);
  EXPECT_EQ(embedded["images"][0]["th"].get<std::string>().rfind("data:image/jpeg;base64,", 0), 0u);

  write_image(run, "one_more", "one_more.png", "cat", 0.9, 0.5);
  const auto large = lumos::write_report({run.string()}, (work_dir() / "sizes" / "large").string());
  EXPECT_FALSE(large.self_contained);
  EXPECT_EQ(gallery_data(large)["images"][0]["in"], "input.png");
  lumos::ReportOptions embed;
  embed.self_contained = true;
  EXPECT_TRUE(lumos::write_report({run.string()}, (work_dir() / "sizes" / "forced").string(), embed).self_contained);
}

TEST(Report, MakesTheThumbnailsARunLacksBesideTheReport) {
  const fs::path run = work_dir() / "thumbs" / "run";
  write_image(run, "cat", "cat.png", "cat", 0.9, 0.5, "layer4", false);
  const auto out = work_dir() / "thumbs" / "out";
  lumos::ReportOptions options;
  options.self_contained = false;
  const json data = gallery_data(lumos::write_report({run.string()}, out.string(), options));
  EXPECT_EQ(data["images"][0]["th"], "thumbnails/0/cat/input.thumb.jpg");
  const cv::Mat made = cv::imread((out / "thumbnails/0/cat/gradcam_cat.thumb.jpg").string());
  EXPECT_EQ(made.cols, 256);
  EXPECT_EQ(made.rows, 171);
  EXPECT_FALSE(fs::exists(run / "cat" / "input.thumb.jpg"));  // the run's folder is left as it was
}

TEST(Report, NothingToReportIsAnInputError) {
  const fs::path empty = work_dir() / "nothing";
  fs::create_directories(empty / "sub");
  EXPECT_THROW(lumos::write_report({empty.string()}, (work_dir() / "nothing_out").string()), lumos::InputError);
  EXPECT_THROW(lumos::write_report({(work_dir() / "absent").string()}, (work_dir() / "nothing_out").string()),
               lumos::InputError);
}

TEST(Report, AnUnreadableExplanationIsShownAsAFailureAndNoted) {
  const fs::path run = work_dir() / "broken" / "run";
  write_image(run, "good", "good.png", "cat", 0.9, 0.5);
  fs::create_directories(run / "cut");
  std::ofstream(run / "cut" / "explanation.json") << "{\"image\": \"cut.png\", \"targ";
  const auto written = lumos::write_report({run.string()}, (work_dir() / "broken" / "out").string());
  EXPECT_EQ(written.failed, 1u);
  ASSERT_EQ(written.notes.size(), 1u);
  EXPECT_NE(written.notes[0].find("is not valid JSON"), std::string::npos) << written.notes[0];
}

// A FIFO or a device in a run folder is refused, not waited on or read until memory runs
// out: an explanation.json that is one makes its image a failure, a picture that is one
// is missing (linked) or an error naming it (embedded).
TEST(Report, SpecialFilesInARunAreRefusedWithoutWaiting) {
  ::alarm(60);  // a read that waits ends the test
  const fs::path run = work_dir() / "special" / "run";
  write_image(run, "good", "good.png", "cat", 0.9, 0.5, "layer4", false);
  fs::remove(run / "good" / "gradcam_cat.png");
  ASSERT_EQ(::mkfifo((run / "good" / "gradcam_cat.png").c_str(), 0600), 0);
  fs::create_directories(run / "pipe");
  ASSERT_EQ(::mkfifo((run / "pipe" / "explanation.json").c_str(), 0600), 0);
  fs::create_directories(run / "zero");
  fs::create_symlink("/dev/zero", run / "zero" / "explanation.json");
  write_run_json(run, {{"good.png", "good", ""}, {"pipe.png", "pipe", ""}, {"zero.png", "zero", ""}});

  lumos::ReportOptions linked;
  linked.self_contained = false;
  const auto written = lumos::write_report({run.string()}, (work_dir() / "special" / "out").string(), linked);
  EXPECT_EQ(written.images, 3u);
  EXPECT_EQ(written.failed, 2u);
  std::string notes;
  for (const auto& note : written.notes) notes += note + "\n";
  EXPECT_NE(notes.find("explanation file '" + (run / "pipe" / "explanation.json").string() + "' is a FIFO"),
            std::string::npos) << notes;
  EXPECT_NE(notes.find("explanation file '" + (run / "zero" / "explanation.json").string() + "' is a device"),
            std::string::npos) << notes;
  EXPECT_NE(notes.find("1 pictures are missing, e.g. '" + (run / "good" / "gradcam_cat.png").string()),
            std::string::npos) << notes;

  lumos::ReportOptions embedded;
  embedded.self_contained = true;
  try {
    lumos::write_report({run.string()}, (work_dir() / "special" / "embedded").string(), embedded);
    ADD_FAILURE() << "a FIFO picture was embedded";
  } catch (const lumos::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("report picture '" + (run / "good" / "gradcam_cat.png").string() +
                                         "' is a FIFO"),
              std::string::npos) << e.what();
  }
  ::alarm(0);
}

TEST(Report, TextCannotEndTheDataScript) {
  const fs::path run = work_dir() / "script" / "run";
  write_image(run, "x", "</script><script>alert(1)</script>.png", "cat", 0.9, 0.5);
  const auto written = lumos::write_report({run.string()}, (work_dir() / "script" / "out").string());
  const std::string html = read_all(written.html);
  EXPECT_EQ(html.find("</script><script>alert"), std::string::npos);
  EXPECT_EQ(gallery_data(written)["images"][0]["i"], "</script><script>alert(1)</script>.png");
}

TEST(SummaryCsv, OneRowPerImageAndTargetQuotedAsRfc4180Says) {
  EXPECT_EQ(lumos::report_detail::csv_field("plain"), "plain");
  EXPECT_EQ(lumos::report_detail::csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(lumos::report_detail::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(lumos::report_detail::csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(lumos::report_detail::csv_field(" padded"), "\" padded\"");

  const fs::path run = work_dir() / "csv" / "run";
  write_image(run, "a", "dir/a, \"quoted\".png", "cat", 0.75, 0.5);
  write_run_json(run, {{"dir/a, \"quoted\".png", "a", ""}, {"dir/b.png", "", "cannot read it"}});
  const auto written = lumos::write_report({run.string()}, (work_dir() / "csv" / "out").string());
  const std::string csv = read_all(written.csv);
  std::istringstream lines(csv);
  std::string header, first, second;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(header,
            "run,image,folder,error,target_class,target_label,target_probability,target_score,top1_class,top1_label,"
            "top1_probability,top2_class,top2_label,top2_probability,gradcam_time_ms,gradcam_empty,"
            "gradcam_energy_in_box\r");
  EXPECT_EQ(first, run.string() + ",\"dir/a, \"\"quoted\"\".png\",../run/a,,1,cat,0.75,2.5,1,cat,0.75,0,class 0,0.25,12.25,0,0.5\r");
  EXPECT_EQ(second, run.string() + ",dir/b.png,,cannot read it,,,,,,,,,,,,,\r");
}

TEST(Report, ReadsOnlyFilesInTheImagesOwnFolder) {
  const fs::path run = work_dir() / "outside" / "run";
  write_image(run, "x", "x.png", "cat", 0.9, 0.5);
  auto record = json::parse(read_all(run / "x" / "explanation.json"));
  record["targets"][0]["methods"][0]["file"] = "../../secret.png";
  record["targets"][0]["methods"][0]["mask"] = "/etc/secret.png";
  std::ofstream(run / "x" / "explanation.json") << record.dump();
  lumos::ReportOptions embed;
  embed.self_contained = true;
  const json method = gallery_data(lumos::write_report({run.string()}, (work_dir() / "outside" / "out").string(), embed))
                          ["images"][0]["t"][0]["m"][0];
  EXPECT_FALSE(method.contains("f"));
  EXPECT_FALSE(method.contains("th"));
  EXPECT_FALSE(method.contains("pic"));
}

TEST(Report, ReadsEveryRunRecordOfAFolderSharedByShards) {
  const fs::path shared = work_dir() / "shared" / "out";
  write_image(shared, "a", "a.png", "cat", 0.9, 0.5);
  write_image(shared, "b", "b.png", "dog", 0.8, 0.5);
  write_image(shared, "stale", "old.png", "owl", 0.8, 0.5);  // left by an earlier run: in no record
  lumos::write_run_record(shared.string(), {{"b.png", "b", ""}}, "run.shard-2-of-2.json");
  lumos::write_run_record(shared.string(), {{"a.png", "a", ""}, {"c.png", "", "cannot read 'c.png'"}},
                          "run.shard-1-of-2.json");
  const json data = gallery_data(lumos::write_report({shared.string()}, (work_dir() / "shared" / "report").string()));
  std::vector<std::string> images;
  for (const auto& image : data["images"]) images.push_back(image["i"]);
  EXPECT_EQ(images, (std::vector<std::string>{"a.png", "c.png", "b.png"}));
}
