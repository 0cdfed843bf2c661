// Errors lumos throws. Every message names the problem and what to do about it;
// the class says which kind of problem it is, so the CLI can map it to an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace lumos {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The model file cannot be read or is not a valid model.
class ModelError : public Error {
 public:
  using Error::Error;
};

// The model uses an operator (or an operator version) lumos does not implement.
class UnsupportedOpError : public ModelError {
 public:
  using ModelError::ModelError;
};

// An input (image, tensor, argument) does not fit what the model or method needs.
class InputError : public Error {
 public:
  using Error::Error;
};

// An image file cannot be read or decoded.
class ImageError : public InputError {
 public:
  using InputError::InputError;
};

// An image has more pixels than lumos (or its caller) accepts.
class ImageTooLargeError : public ImageError {
 public:
  using ImageError::ImageError;
};

// A requested layer does not exist in the model.
class LayerNotFoundError : public InputError {
 public:
  using InputError::InputError;
};

// The caller asked a long computation to stop (e.g. Ctrl-C); nothing was produced.
class CancelledError : public Error {
 public:
  using Error::Error;
};

}  // namespace lumos
