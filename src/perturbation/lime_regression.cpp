// lime_base's surrogate: sample weights from cosine distances, feature selection, and a
// weighted Ridge(α=1, intercept) — each step as scikit-learn 1.2 computes it
// (Ridge with sample_weight, r2_score with sample_weight, lars_path(method='lasso')).
// The matrices are small (samples x segments): Eigen's own threads would cost more than
// they save, and single-threaded products keep results independent of the thread count.
#define EIGEN_DONT_PARALLELIZE

#include "lumos/lime.hpp"

#include <ATen/ATen.h>
#include <Eigen/Dense>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>

namespace lumos {
namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;

// Element-wise copies into doubles on this thread (ATen's conversion would split a matrix
// of LIME's size across the intra-op pool, which costs more than it saves).
Matrix to_matrix(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  Matrix out(c.size(0), c.size(1));
  AT_DISPATCH_ALL_TYPES(c.scalar_type(), "lime_to_matrix", [&] {
    const scalar_t* in = c.data_ptr<scalar_t>();
    for (Eigen::Index i = 0; i < out.size(); ++i) out.data()[i] = static_cast<double>(in[i]);
  });
  return out;
}

Vector to_vector(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  Vector out(c.numel());
  AT_DISPATCH_ALL_TYPES(c.scalar_type(), "lime_to_vector", [&] {
    const scalar_t* in = c.data_ptr<scalar_t>();
    for (Eigen::Index i = 0; i < out.size(); ++i) out[i] = static_cast<double>(in[i]);
  });
  return out;
}

Matrix columns(const Matrix& x, const std::vector<int>& features) {
  Matrix out(x.rows(), static_cast<Eigen::Index>(features.size()));
  for (size_t j = 0; j < features.size(); ++j) out.col(static_cast<Eigen::Index>(j)) = x.col(features[j]);
  return out;
}

// sklearn's Ridge(alpha, fit_intercept=True).fit(x, y, sample_weight=w): weighted centring,
// rows scaled by sqrt(w), then the normal equations (least squares with minimum norm when
// α = 0 and they are singular, as sklearn falls back to its SVD solver).
struct RidgeFit {
  Vector coef;
  double intercept = 0;
};

RidgeFit fit_ridge(const Matrix& x, const Vector& y, const Vector& w, double alpha) {
  const double total = w.sum();
  const Eigen::RowVectorXd x_offset = (w.transpose() * x) / total;
  const double y_offset = w.dot(y) / total;
  const Vector root_w = w.cwiseSqrt();
  const Matrix xs = (x.rowwise() - x_offset).array().colwise() * root_w.array();
  const Vector ys = (y.array() - y_offset) * root_w.array();
  RidgeFit fit;
  if (alpha > 0) {
    Matrix gram = xs.transpose() * xs;
    gram.diagonal().array() += alpha;
    fit.coef = gram.llt().solve(xs.transpose() * ys);
  } else {
    Eigen::LLT<Matrix> llt(xs.transpose() * xs);
    fit.coef = llt.info() == Eigen::Success && xs.rows() >= xs.cols()
                   ? Vector(llt.solve(xs.transpose() * ys))
                   : Vector(xs.completeOrthogonalDecomposition().solve(ys));
  }
  fit.intercept = y_offset - x_offset.dot(fit.coef);
  return fit;
}

// sklearn's r2_score(y, pred, sample_weight=w) with force_finite=True.
double weighted_r2(const Vector& y, const Vector& pred, const Vector& w) {
  const double mean = w.dot(y) / w.sum();
  const double residual = (w.array() * (y - pred).array().square()).sum();
  const double total = (w.array() * (y.array() - mean).square()).sum();
  if (total == 0) return residual == 0 ? 1.0 : 0.0;
  return 1.0 - residual / total;
}

double ridge_score(const Matrix& x, const Vector& y, const Vector& w, double alpha) {
  const RidgeFit fit = fit_ridge(x, y, w, alpha);
  return weighted_r2(y, (x * fit.coef).array() + fit.intercept, w);
}

std::vector<int> all_features(Eigen::Index count) {
  std::vector<int> features(static_cast<size_t>(count));
  std::iota(features.begin(), features.end(), 0);
  return features;
}

std::vector<int> forward_selection(const Matrix& x, const Vector& y, const Vector& w, int num_features) {
  std::vector<int> used;
  const int rounds = std::min<int>(num_features, static_cast<int>(x.cols()));
  for (int round = 0; round < rounds; ++round) {
    double best_score = -100000000;
    int best = 0;
    for (int feature = 0; feature < x.cols(); ++feature) {
      if (std::find(used.begin(), used.end(), feature) != used.end()) continue;
      std::vector<int> trial = used;
      trial.push_back(feature);
      const double score = ridge_score(columns(x, trial), y, w, 0.0);
      if (score > best_score) {
        best_score = score;
        best = feature;
      }
    }
    used.push_back(best);
  }
  return used;
}

// Indices sorted by |value|, largest first; equal magnitudes keep their order (Python's
// sorted(..., reverse=True) is stable).
std::vector<int> by_magnitude(const Vector& values) {
  std::vector<int> order = all_features(values.size());
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return std::abs(values[a]) > std::abs(values[b]); });
  return order;
}

std::vector<int> highest_weights(const Matrix& x, const Vector& y, const Vector& w, int num_features) {
  const RidgeFit fit = fit_ridge(x, y, w, 0.01);
  // lime ranks coef * data[0]; row 0 is the unperturbed image.
  std::vector<int> order = by_magnitude(fit.coef.cwiseProduct(x.row(0).transpose()));
  if (static_cast<int>(order.size()) > num_features) order.resize(static_cast<size_t>(std::max(num_features, 0)));
  return order;
}

double min_positive(const Vector& v) {
  double best = FLT_MAX;  // sklearn's arrayfuncs.min_pos starts from FLT_MAX
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    if (v[i] > 0 && v[i] < best) best = v[i];
  }
  return best;
}

// Solves (L Lᵀ) x = b for a lower-triangular L (LAPACK's potrs).
Vector cholesky_solve(const Matrix& lower, const Vector& b) {
  const Vector half = lower.triangularView<Eigen::Lower>().solve(b);
  return lower.transpose().triangularView<Eigen::Upper>().solve(half);
}

// sklearn.linear_model.lars_path(x, y, method='lasso') with Gram=None: the coefficient
// vector after every step (row 0 = all zeros). Mirrors sklearn's bookkeeping (column swaps,
// the degenerate-regressor skip, 15-decimal rounding of the correlations) so that the
// sequence of active sets is the same.
std::vector<Vector> lasso_lars_path(Matrix x, const Vector& y) {
  const Eigen::Index n_samples = x.rows(), n_features = x.cols();
  const int max_iter = 500;
  const Eigen::Index max_features = std::min<Eigen::Index>(max_iter, n_features);
  const double tiny32 = FLT_MIN, equality_tolerance = FLT_EPSILON, eps = DBL_EPSILON;

  std::vector<double> cov_full(static_cast<size_t>(n_features));
  Eigen::Map<Vector>(cov_full.data(), n_features) = x.transpose() * y;
  size_t cov_start = 0;  // Cov is cov_full[cov_start:], the not-yet-active features
  std::vector<int> indices = all_features(n_features), active;
  std::vector<double> sign_active(static_cast<size_t>(max_features), 0.0);
  Matrix chol = Matrix::Zero(max_features, max_features);
  std::vector<Vector> coefs{Vector::Zero(n_features)};
  std::vector<double> alphas;  // alpha at each step, for the early stop
  Eigen::Index n_active = 0;
  int n_iter = 0;
  bool drop = false;
  std::vector<Eigen::Index> dropped;

  auto cov_size = [&] { return cov_full.size() - cov_start; };
  auto cov = [&](size_t i) -> double& { return cov_full[cov_start + i]; };

  while (true) {
    size_t c_idx = 0;
    double c_signed = 0, c = 0;
    if (cov_size() > 0) {
      for (size_t i = 1; i < cov_size(); ++i) {
        if (std::abs(cov(i)) > std::abs(cov(c_idx))) c_idx = i;
      }
      c_signed = cov(c_idx);
      c = std::abs(c_signed);
    }
    const double alpha = c / static_cast<double>(n_samples);
    alphas.resize(static_cast<size_t>(n_iter) + 1);
    alphas[static_cast<size_t>(n_iter)] = alpha;
    if (alpha <= equality_tolerance) break;  // alpha_min = 0: the path is complete
    if (n_iter >= max_iter || n_active >= n_features) break;

    if (!drop) {
      sign_active[static_cast<size_t>(n_active)] = (c_signed > 0) - (c_signed < 0);
      const Eigen::Index m = n_active, n = static_cast<Eigen::Index>(c_idx) + n_active;
      std::swap(cov(c_idx), cov(0));
      std::swap(indices[static_cast<size_t>(n)], indices[static_cast<size_t>(m)]);
      x.col(n).swap(x.col(m));
      ++cov_start;
      const double col_norm2 = x.col(n_active).squaredNorm();
      Eigen::RowVectorXd row = x.col(n_active).transpose() * x.leftCols(n_active);
      if (n_active > 0) {
        chol.topLeftCorner(n_active, n_active).triangularView<Eigen::Lower>().solveInPlace(row.transpose());
      }
      chol.row(n_active).head(n_active) = row;
      const double diag = std::max(std::sqrt(std::abs(col_norm2 - row.squaredNorm())), eps);
      chol(n_active, n_active) = diag;
      if (diag < 1e-7) {
        // Degenerate regressor: sklearn zeroes its correlation and tries again.
        --cov_start;
        cov(0) = 0;
        std::swap(cov(c_idx), cov(0));
        continue;
      }
      active.push_back(indices[static_cast<size_t>(n_active)]);
      ++n_active;
    }
    if (n_iter > 0 && alphas[static_cast<size_t>(n_iter) - 1] < alpha) break;  // residues too small to go on

    const Eigen::VectorXd signs = Eigen::Map<const Vector>(sign_active.data(), n_active);
    Vector least_squares = cholesky_solve(chol.topLeftCorner(n_active, n_active), signs);
    double aa;
    if (least_squares.size() == 1 && least_squares[0] == 0) {
      least_squares[0] = 1;
      aa = 1.0;
    } else {
      aa = 1.0 / std::sqrt(least_squares.dot(signs));
      Matrix regularised = chol.topLeftCorner(n_active, n_active);
      for (int i = 0; !std::isfinite(aa); ++i) {
        regularised.diagonal().array() += std::ldexp(eps, i);
        least_squares = cholesky_solve(regularised, signs);
        aa = 1.0 / std::sqrt(std::max(least_squares.dot(signs), eps));
      }
      least_squares *= aa;
    }
    const Vector eq_dir = x.leftCols(n_active) * least_squares;
    Vector corr_eq_dir = x.rightCols(n_features - n_active).transpose() * eq_dir;
    for (Eigen::Index i = 0; i < corr_eq_dir.size(); ++i) {
      corr_eq_dir[i] = std::nearbyint(corr_eq_dir[i] * 1e15) / 1e15;  // np.around(decimals=15)
    }
    const Eigen::Map<Vector> cov_vec(cov_full.data() + cov_start, static_cast<Eigen::Index>(cov_size()));
    const double g1 = min_positive((c - cov_vec.array()) / (aa - corr_eq_dir.array() + tiny32));
    const double g2 = min_positive((c + cov_vec.array()) / (aa + corr_eq_dir.array() + tiny32));
    double gamma = std::min({g1, g2, c / aa});

    const Vector& prev_coef = coefs.back();
    Vector z(n_active);
    for (Eigen::Index i = 0; i < n_active; ++i) z[i] = -prev_coef[active[static_cast<size_t>(i)]] / (least_squares[i] + tiny32);
    const double z_pos = min_positive(z);
    drop = false;
    dropped.clear();
    if (z_pos < gamma) {
      for (Eigen::Index i = n_active - 1; i >= 0; --i) {
        if (z[i] == z_pos) dropped.push_back(i);  // descending, as sklearn's idx[::-1]
      }
      for (auto i : dropped) sign_active[static_cast<size_t>(i)] = -sign_active[static_cast<size_t>(i)];
      gamma = z_pos;
      drop = true;
    }
    ++n_iter;
    Vector coef = Vector::Zero(n_features);
    for (Eigen::Index i = 0; i < n_active; ++i) {
      const int f = active[static_cast<size_t>(i)];
      coef[f] = prev_coef[f] + gamma * least_squares[i];
    }
    for (size_t i = 0; i < cov_size(); ++i) cov(i) -= gamma * corr_eq_dir[static_cast<Eigen::Index>(i)];
    coefs.push_back(coef);

    if (drop) {
      --n_active;  // sklearn removes one slot even when several coefficients hit zero together
      for (auto ii : dropped) {
        active.erase(active.begin() + ii);
        for (Eigen::Index i = ii; i < n_active; ++i) {
          x.col(i).swap(x.col(i + 1));
          std::swap(indices[static_cast<size_t>(i)], indices[static_cast<size_t>(i + 1)]);
        }
      }
      // The Cholesky factor of the remaining active columns (sklearn downdates it with
      // Givens rotations to the same factor).
      if (n_active > 0) {
        const Matrix gram = x.leftCols(n_active).transpose() * x.leftCols(n_active);
        chol.topLeftCorner(n_active, n_active) = gram.llt().matrixL();
      }
      Vector active_coef(static_cast<Eigen::Index>(active.size()));
      for (size_t i = 0; i < active.size(); ++i) active_coef[static_cast<Eigen::Index>(i)] = coef[active[i]];
      const Vector residual = y - x.leftCols(static_cast<Eigen::Index>(active.size())) * active_coef;
      --cov_start;
      cov(0) = x.col(n_active).dot(residual);
      for (auto ii : dropped) sign_active.erase(sign_active.begin() + ii);
      sign_active.resize(static_cast<size_t>(max_features), 0.0);
    }
  }
  return coefs;
}

std::vector<int> lasso_path_selection(const Matrix& x, const Vector& y, const Vector& w, int num_features) {
  const double total = w.sum();
  const Eigen::RowVectorXd x_mean = (w.transpose() * x) / total;
  const Vector root_w = w.cwiseSqrt();
  const Matrix wx = (x.rowwise() - x_mean).array().colwise() * root_w.array();
  const Vector wy = (y.array() - w.dot(y) / total) * root_w.array();
  const std::vector<Vector> coefs = lasso_lars_path(wx, wy);
  // lime walks the path from its end and keeps the first step with few enough features.
  std::vector<int> nonzero = all_features(x.cols());
  for (size_t i = coefs.size() - 1; i > 0; --i) {
    nonzero.clear();
    for (Eigen::Index f = 0; f < coefs[i].size(); ++f) {
      if (coefs[i][f] != 0) nonzero.push_back(static_cast<int>(f));
    }
    if (static_cast<int>(nonzero.size()) <= num_features) break;
  }
  return nonzero;
}

std::vector<int> select_features(const Matrix& x, const Vector& y, const Vector& w, int num_features,
                                 FeatureSelection method) {
  switch (method) {
    case FeatureSelection::none: return all_features(x.cols());
    case FeatureSelection::forward_selection: return forward_selection(x, y, w, num_features);
    case FeatureSelection::highest_weights: return highest_weights(x, y, w, num_features);
    case FeatureSelection::lasso_path: return lasso_path_selection(x, y, w, num_features);
    case FeatureSelection::automatic:
      return select_features(x, y, w, num_features,
                             num_features <= 6 ? FeatureSelection::forward_selection : FeatureSelection::highest_weights);
  }
  return {};
}

}  // namespace

FeatureSelection parse_feature_selection(const std::string& name) {
  for (auto s : {FeatureSelection::automatic, FeatureSelection::highest_weights, FeatureSelection::forward_selection,
                 FeatureSelection::lasso_path, FeatureSelection::none}) {
    if (to_string(s) == name) return s;
  }
  throw InputError("unknown LIME feature selection '" + name +
                   "'; use auto, highest_weights, forward_selection, lasso_path or none");
}

std::string to_string(FeatureSelection selection) {
  switch (selection) {
    case FeatureSelection::automatic: return "auto";
    case FeatureSelection::highest_weights: return "highest_weights";
    case FeatureSelection::forward_selection: return "forward_selection";
    case FeatureSelection::lasso_path: return "lasso_path";
    case FeatureSelection::none: return "none";
  }
  return "?";
}

at::Tensor cosine_distances_to_first(const at::Tensor& data) {
  if (data.dim() != 2 || data.size(0) < 1) throw InputError("cosine distances: expected a non-empty [N, S] matrix");
  // sklearn normalises each row (a zero row stays zero), takes dot products, then 1 - s clipped to [0, 2].
  Matrix unit = to_matrix(data);
  for (Eigen::Index i = 0; i < unit.rows(); ++i) {
    const double norm = unit.row(i).norm();
    if (norm != 0) unit.row(i) /= norm;
  }
  const Vector distances = (1.0 - (unit * unit.row(0).transpose()).array()).cwiseMax(0.0).cwiseMin(2.0);
  return at::from_blob(const_cast<double*>(distances.data()), {distances.size()}, at::kDouble).clone();
}

LinearExplanation explain_with_data(const at::Tensor& data, const at::Tensor& target, const at::Tensor& distances,
                                    const RegressionOptions& options) {
  if (data.dim() != 2 || target.dim() != 1 || distances.dim() != 1 || target.size(0) != data.size(0) ||
      distances.size(0) != data.size(0)) {
    throw InputError("LIME regression: expected data [N, S], target [N] and distances [N]");
  }
  if (data.size(0) < 2 || data.size(1) < 1) {
    throw InputError("LIME regression needs at least 2 samples and 1 segment, got " + std::to_string(data.size(0)) +
                     " x " + std::to_string(data.size(1)));
  }
  if (!(options.kernel_width > 0)) throw InputError("LIME kernel_width must be > 0");
  if (options.num_features < 1) throw InputError("LIME num_features must be >= 1");
  const Matrix x = to_matrix(data);
  const Vector y = to_vector(target);
  if (!y.allFinite()) throw InputError("LIME regression: the model returned NaN or infinite scores");
  const Vector d = to_vector(distances);
  const Vector w = (-(d.array().square()) / (options.kernel_width * options.kernel_width)).exp().sqrt();

  const std::vector<int> used = select_features(x, y, w, options.num_features, options.feature_selection);
  const Matrix xs = columns(x, used);
  const RidgeFit fit = fit_ridge(xs, y, w, 1.0);
  LinearExplanation out;
  out.intercept = fit.intercept;
  out.score = weighted_r2(y, (xs * fit.coef).array() + fit.intercept, w);
  out.local_prediction = fit.intercept + xs.row(0).dot(fit.coef);
  for (int i : by_magnitude(fit.coef)) out.weights.push_back({used[static_cast<size_t>(i)], fit.coef[i]});
  return out;
}

}  // namespace lumos
