// lumos serve: explanations over HTTP (cpp-httplib). The model is loaded once; POST /v1/explain
// requests go through ExplainQueue (dynamic batching) to the library's explain pipeline.
// The API and its limits: docs/serve.md.
#include "serve.hpp"

#include "explain_settings.hpp"
#include "serve_metrics.hpp"
#include "serve_page.hpp"
#include "serve_queue.hpp"
#include "util/base64.hpp"

#include "lumos/error.hpp"
#include "lumos/render.hpp"

#include <ATen/ATen.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>

namespace lumos::cli {
namespace {

using nlohmann::json;

// A request that cannot be served as asked: its HTTP status and a message naming the problem.
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

void send_json(httplib::Response& response, int status, const json& body) {
  response.status = status;
  response.set_content(body.dump() + "\n", "application/json");
}

void send_error(httplib::Response& response, int status, const std::string& message) {
  send_json(response, status, {{"error", message}, {"status", status}});
}

// The socket of the connection a request came on, found by its two addresses: cpp-httplib 0.11
// does not hand it to handlers, and a client that leaves is seen only on it.
int connection_socket(const httplib::Request& request) {
  DIR* fds = opendir("/proc/self/fd");
  if (!fds) return -1;
  int found = -1;
  while (const dirent* entry = readdir(fds)) {
    const int fd = std::atoi(entry->d_name);
    if (fd <= 2) continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_size = sizeof local, peer_size = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) {
      continue;
    }
    auto port_of = [](const sockaddr_storage& address) {
      if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
      if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
      return uint16_t{0};
    };
    char host[INET6_ADDRSTRLEN] = {};
    const void* peer_address = peer.ss_family == AF_INET
                                   ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(peer).sin_addr)
                                   : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr);
    if (!inet_ntop(peer.ss_family, peer_address, host, sizeof host)) continue;
    if (port_of(peer) == request.remote_port && port_of(local) == request.local_port && host == request.remote_addr) {
      found = fd;
      break;
    }
  }
  closedir(fds);
  return found;
}

// Whether the client closed its connection: it has nothing more to send on it but its end.
bool client_left(int socket) {
  if (socket < 0) return false;
  char byte;
  const ssize_t n = recv(socket, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

// The request's parameters: the query string's, and a multipart body's fields other than the image.
std::multimap<std::string, std::string> parameters_of(const httplib::Request& request) {
  std::multimap<std::string, std::string> parameters(request.params.begin(), request.params.end());
  for (const auto& [name, field] : request.files) {
    if (name != "image") parameters.emplace(name, field.content);
  }
  return parameters;
}

int64_t whole_number(const std::string& name, const std::string& text, int64_t low, int64_t high) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value < low || value > high) {
    throw RequestError(400, "parameter " + name + "='" + text + "' — give a whole number from " +
                                std::to_string(low) + " to " + std::to_string(high));
  }
  return value;
}

bool yes_or_no(const std::string& name, const std::string& text) {
  if (text == "1" || text == "true" || text.empty()) return true;
  if (text == "0" || text == "false") return false;
  throw RequestError(400, "parameter " + name + "='" + text + "' — give true or false");
}

// One request's settings: the server's defaults with the request's parameters applied.
struct RequestSettings {
  ExplainOptions options;
  bool raw = false;                    // the float maps in the answer
  std::chrono::milliseconds deadline;  // from the request's arrival
};

RequestSettings settings_of(const std::multimap<std::string, std::string>& parameters, const ServeOptions& server) {
  RequestSettings settings{server.explain, false, std::chrono::milliseconds(server.deadline_ms)};
  ExplainOptions& o = settings.options;
  std::set<std::string> seen;
  for (const auto& [name, value] : parameters) {
    if (name != "option" && !seen.insert(name).second) throw RequestError(400, "parameter " + name + " is given twice");
    if (name == "method" || name == "methods") o.methods = value;
    else if (name == "target") o.target = value;
    else if (name == "layer") o.layers = split_commas(value);
    else if (name == "top") o.top = static_cast<int>(whole_number(name, value, 1, 1000));
    else if (name == "lime_samples") o.lime_samples = static_cast<int>(whole_number(name, value, 10, server.max_lime_samples));
    else if (name == "lime_features") o.lime_features = static_cast<int>(whole_number(name, value, 1, 1000));
    else if (name == "lime_hide") o.lime_hide = value;
    else if (name == "seed") o.seed = static_cast<uint64_t>(whole_number(name, value, 0, INT64_MAX));
    else if (name == "aug_smooth") o.aug_smooth = yes_or_no(name, value);
    else if (name == "eigen_smooth") o.eigen_smooth = yes_or_no(name, value);
    else if (name == "colormap") o.colormap = value;
    else if (name == "image_weight") o.image_weight = static_cast<double>(whole_number(name, value, 0, 100)) / 100.0;
    else if (name == "option") o.method_options.push_back(value);
    else if (name == "raw") settings.raw = yes_or_no(name, value);
    else if (name == "deadline_ms") settings.deadline = std::chrono::milliseconds(whole_number(name, value, 1, server.deadline_ms));
    else {
      throw RequestError(400, "unknown parameter '" + name + "' — use method, target, layer, top, lime_samples, "
                              "lime_features, lime_hide, seed, aug_smooth, eigen_smooth, colormap, image_weight, "
                              "option, raw, deadline_ms");
    }
  }
  return settings;
}

// Requests with equal keys are explained by the same pipeline, so may share a batch. Targets
// (per input) and how pictures are drawn (after the run) are not part of it.
std::string settings_key(const ExplainOptions& o) {
  json key{o.methods, o.layers, o.top, o.lime_samples, o.lime_hide, o.seed, o.aug_smooth, o.eigen_smooth, o.method_options};
  return key.dump();
}

json float_map(const at::Tensor& map) {
  const at::Tensor values = map.to(at::kFloat).contiguous();
  const float* data = values.data_ptr<float>();
  return {{"shape", values.sizes().vec()}, {"data", std::vector<float>(data, data + values.numel())}};
}

// explanation.json's record of the result, with each picture as PNG in base64 instead of a file
// name, and the float maps when asked.
json answer_of(const ExplainOutcome& outcome, const Outputs& outputs, bool raw) {
  const ImageResult& result = outcome.result;
  json answer = json::parse(explanation_json(result, outcome.summary, outputs.folder));
  answer.erase("thumbnail");
  answer["settings"].erase("model");
  for (size_t t = 0; t < result.targets.size(); ++t) {
    for (size_t m = 0; m < result.targets[t].methods.size(); ++m) {
      const MethodResult& method = result.targets[t].methods[m];
      json& entry = answer["targets"][t]["methods"][m];
      for (const char* file_key : {"file", "thumbnail", "mask", "heatmap"}) entry.erase(file_key);
      for (const auto& picture : method.pictures) entry.erase(picture.role);
      json pictures = json::object();
      for (const auto& picture : render_pictures(method, *result.image, outputs.folder.render)) {
        pictures[picture.role.empty() ? "overlay" : picture.role] = base64(encode_png(picture.pixels));
      }
      entry["png"] = pictures;
      if (raw) {
        entry["map_values"] = float_map(method.map);
        if (method.raw.defined()) entry["raw_values"] = float_map(method.raw);
      }
    }
  }
  answer["timings_ms"] = {{"queued", outcome.queued_ms}, {"batch", outcome.explain_ms}};
  answer["batch_size"] = outcome.batch_size;
  return answer;
}

class Server {
 public:
  Server(const ServeOptions& options, Model& model)
      : options_(options),
        model_(model),
        queue_(model, static_cast<size_t>(options.max_batch), std::chrono::milliseconds(options.max_wait_ms),
               static_cast<size_t>(options.queue), metrics_) {
    // Enough connection threads that every queued request has one, and a few for /healthz.
    const size_t threads = static_cast<size_t>(options.queue) + 8;
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_.set_payload_max_length(static_cast<size_t>(options.max_body_mb) * 1024 * 1024);
    http_.set_read_timeout(30);
    // Clients that send request after request keep their connection (cpp-httplib closes it after 5).
    http_.set_keep_alive_max_count(100000);
    http_.set_keep_alive_timeout(30);
    http_.set_write_timeout(30);
    // The listening socket, kept to widen its accept queue after bind (see bind()).
    http_.set_socket_options([this](socket_t socket) {
      httplib::default_socket_options(socket);
      listening_socket_ = socket;
    });
    http_.Get("/healthz", [this](const httplib::Request& request, httplib::Response& response) {
      send_json(response, 200, {{"status", "ok"}, {"model", options_.explain.model.path}, {"queue", queue_.depth()}});
      count(request, response);
    });
    http_.Get("/metrics", [this](const httplib::Request& request, httplib::Response& response) {
      response.set_content(metrics_.text(queue_.depth(), queue_.capacity()), "text/plain; version=0.0.4");
      count(request, response);
    });
    http_.Get("/", [this](const httplib::Request& request, httplib::Response& response) {
      response.set_content(serve_page(), "text/html; charset=utf-8");
      count(request, response);
    });
    http_.Post("/v1/explain", [this](const httplib::Request& request, httplib::Response& response) {
      const auto arrived = Clock::now();
      try {
        explain(request, response, arrived);
      } catch (const RequestError& e) {
        send_error(response, e.status(), e.what());
      } catch (const UsageError& e) {  // a parameter's value, checked as the flag's would be
        send_error(response, 400, e.what());
      } catch (const ImageTooLargeError& e) {
        send_error(response, 413, e.what());
      } catch (const ImageError& e) {
        send_error(response, 415, e.what());
      } catch (const InputError& e) {
        send_error(response, 400, e.what());
      }
      count(request, response, arrived);
    });
    // Answers cpp-httplib gives itself (413 for a body over the limit, 404 for another path or method) as JSON too.
    http_.set_error_handler([this](const httplib::Request& request, httplib::Response& response) {
      if (!response.body.empty()) return;
      const std::string message =
          response.status == 413   ? "the body is larger than the server's limit of " +
                                         std::to_string(options_.max_body_mb) + " MB; send a smaller image"
          : response.status == 404 ? "nothing answers " + request.method + " " + request.path +
                                         " — use POST /v1/explain, GET /, GET /healthz or GET /metrics"
                                   : "the request failed with status " + std::to_string(response.status);
      send_error(response, response.status, message);
      if (request.path != "/v1/explain") count(request, response);
    });
    http_.set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
      std::string message = "internal error";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        message += std::string(": ") + e.what();
      } catch (...) {
      }
      send_error(response, 500, message);
    });
  }

  // Binds; port 0 takes a free one. Returns the port.
  int bind() {
    const int port = options_.port == 0 ? http_.bind_to_any_port(options_.host)
                                        : (http_.bind_to_port(options_.host, options_.port) ? options_.port : -1);
    if (port < 0) {
      throw InputError("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                       " — is the port taken? Give another --port (0: any free one)");
    }
    // Debian's cpp-httplib listens with a backlog of 5: 32 clients connecting at once overflowed
    // it and some were reset (the load test). listen() again only widens the queue.
    if (listening_socket_ >= 0) ::listen(listening_socket_, SOMAXCONN);
    return port;
  }
  void listen() { http_.listen_after_bind(); }
  void stop() { http_.stop(); }

 private:
  void count(const httplib::Request& request, const httplib::Response& response, Clock::time_point since = Clock::now()) {
    metrics_.count_request(request.path, response.status,
                           std::chrono::duration<double>(Clock::now() - since).count());
  }

  void explain(const httplib::Request& request, httplib::Response& response, Clock::time_point arrived) {
    std::string_view image_bytes;
    std::string image_name = "upload";  // the client's name for it; never a path on the server
    if (request.is_multipart_form_data()) {
      if (!request.has_file("image")) throw RequestError(400, "the multipart body has no field 'image'; send the picture in it");
      const auto it = request.files.find("image");
      image_bytes = it->second.content;
      if (!it->second.filename.empty()) image_name = it->second.filename;
    } else {
      image_bytes = request.body;
    }
    if (image_bytes.empty()) {
      throw RequestError(400, "no image: send it as the body (Content-Type image/png, image/jpeg, …) or as the "
                              "multipart field 'image'");
    }
    RequestSettings settings = settings_of(parameters_of(request), options_);
    ExplainRequest explain_request = request_of(settings.options, model_);
    const Outputs outputs = outputs_of(settings.options);
    auto job = std::make_unique<ExplainJob>();
    job->arrived = arrived;
    job->settings = settings_key(settings.options);
    job->input = ImageInput::decoded(Image::decode(image_bytes, image_name, options_.max_pixels), image_name);
    job->input.targets = explain_request.targets;
    explain_request.targets = {Target::top(1)};
    job->request = std::move(explain_request);
    const int socket = connection_socket(request);
    const auto deadline = arrived + settings.deadline;
    job->input.cancelled = [socket, deadline] { return Clock::now() > deadline || client_left(socket); };

    auto future = queue_.submit(std::move(job));
    if (!future) {
      response.set_header("Retry-After", "1");
      throw RequestError(503, "the server is busy: " + std::to_string(queue_.capacity()) +
                                  " requests are waiting; retry after a second");
    }
    ExplainOutcome outcome = future->get();
    if (!outcome.error.empty()) throw RequestError(outcome.status, outcome.error);
    if (outcome.result.cancelled) {
      if (Clock::now() > deadline) {
        throw RequestError(504, "the deadline of " + std::to_string(settings.deadline.count()) +
                                    " ms passed before the explanation was done; ask for less (fewer methods, "
                                    "fewer LIME samples) or a later deadline_ms");
      }
      throw RequestError(499, "the client closed the connection");
    }
    if (!outcome.result.ok()) throw RequestError(400, outcome.result.error);
    outcome.summary.model = std::filesystem::path(options_.explain.model.path).filename().string();
    json answer = answer_of(outcome, outputs, settings.raw);
    answer["timings_ms"]["total"] = std::chrono::duration<double, std::milli>(Clock::now() - arrived).count();
    send_json(response, 200, answer);
  }

  const ServeOptions& options_;
  Model& model_;
  ServeMetrics metrics_;
  ExplainQueue queue_;  // declared before the HTTP server: its worker answers the handlers until they are done
  httplib::Server http_;
  socket_t listening_socket_ = -1;
};

int stop_pipe[2] = {-1, -1};

void on_stop_signal(int) {
  const char byte = 1;
  [[maybe_unused]] const ssize_t written = write(stop_pipe[1], &byte, 1);
}

}  // namespace

CLI::App* add_serve_command(CLI::App& app, ServeOptions& options) {
  auto* command = app.add_subcommand("serve", "Explain images sent over HTTP: POST /v1/explain, a web page at /");
  options.explain.model.add_to(*command, true);
  options.explain.input.add_to(*command);
  command->add_option("--host", options.host, "Address to listen on (default 127.0.0.1: this machine only)");
  command->add_option("--port", options.port, "Port (default 8080; 0: any free one, printed)")->check(CLI::Range(0, 65535));
  command->add_option("--max-batch", options.max_batch, "Requests explained together in one batch (default 8; 1: no batching)")
      ->check(kPositiveInteger);
  command->add_option("--max-wait-ms", options.max_wait_ms,
                      "How long the first request of a batch waits for others (default 5 ms)")
      ->check(CLI::Range(0, 10000));
  command->add_option("--queue", options.queue, "Requests waiting or running before 503 (default 64)")->check(kPositiveInteger);
  command->add_option("--deadline-ms", options.deadline_ms,
                      "A request's time limit from its arrival, and the most a request may ask for (default 60000)")
      ->check(kPositiveInteger);
  command->add_option("--max-body-mb", options.max_body_mb, "Largest request body (default 20)")->check(kPositiveInteger);
  command->add_option("--max-pixels", options.max_pixels, "Largest image, in pixels (default 40000000)")
      ->check(kPositiveInteger);
  command->add_option("--max-lime-samples", options.max_lime_samples, "Most LIME samples a request may ask for (default 5000)")
      ->check(kPositiveInteger);
  return command;
}

int run_serve(const ServeOptions& options) {
  // OpenCV refuses pictures above this before allocating them, in every format (decompression
  // bombs); PNG and JPEG headers are also checked by Image::decode.
  setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(options.max_pixels).c_str(), 1);
  const auto model = options.explain.model.load();
  Server server(options, *model);
  const int port = server.bind();
  // Ctrl-C and SIGTERM stop the server from a thread of their own (stop() is not safe in a
  // signal handler, which only writes to a pipe); requests under way finish first.
  if (pipe(stop_pipe) != 0) throw Error("cannot create a pipe for signals");
  std::thread stopper([&] {
    char byte;
    while (read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    server.stop();
  });
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::cout << "lumos serve: " << options.explain.model.path << " on http://" << options.host << ":" << port << "/"
            << std::endl;
  server.listen();
  on_stop_signal(0);  // when listening ended otherwise
  stopper.join();
  return kOk;
}

}  // namespace lumos::cli
