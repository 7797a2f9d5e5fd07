// Exact decimal arithmetic for FHIRPath System.Decimal (FHIRPath 2.0 §"Decimal").
//
// A Decimal is units / 10^scale with a 128-bit signed significand. The scale is the
// number of digits written after the point and is kept through parsing, so `1.50`
// has scale 2 and prints as "1.50" (FHIR requires decimals to keep their digits).
// All operations are overflow-checked and return std::nullopt instead of invoking UB.
#ifndef SDOH_FHIR_FHIRPATH_DECIMAL_H_
#define SDOH_FHIR_FHIRPATH_DECIMAL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fhir::fhirpath {

class Decimal {
 public:
  static constexpr int kMaxScale = 28;

  Decimal() = default;
  static Decimal FromInt(int64_t v) { return Decimal(v, 0); }
  // Parses "[+-]digits[.digits][e[+-]digits]". Returns nullopt on bad syntax or overflow.
  static std::optional<Decimal> Parse(std::string_view text);
  // Converts a binary double (for sqrt/ln/exp/...) keeping up to 15 significant digits.
  static std::optional<Decimal> FromDouble(double v);

  __int128 units() const { return units_; }
  int scale() const { return scale_; }
  bool IsZero() const { return units_ == 0; }
  bool IsNegative() const { return units_ < 0; }
  double ToDouble() const;
  // Digits as written: scale digits after the point ("1.50", "-0.0034", "12").
  std::string ToString() const;

  // Same value with `scale` fraction digits; rounding half away from zero when shrinking.
  std::optional<Decimal> Rescale(int scale) const;
  // Removes trailing fraction zeros.
  Decimal Normalized() const;
  std::optional<Decimal> Floor(int scale) const;  // toward -inf at `scale` digits
  std::optional<Decimal> Ceil(int scale) const;   // toward +inf
  std::optional<Decimal> Truncate(int scale) const;

  // -1, 0, 1; nullopt only if the values cannot be aligned (absurd scales).
  static std::optional<int> Compare(const Decimal& a, const Decimal& b);
  static std::optional<Decimal> Add(const Decimal& a, const Decimal& b);
  static std::optional<Decimal> Sub(const Decimal& a, const Decimal& b);
  static std::optional<Decimal> Mul(const Decimal& a, const Decimal& b);
  // Division result carries up to 16 fraction digits with trailing zeros removed.
  // nullopt on division by zero or overflow.
  static std::optional<Decimal> Div(const Decimal& a, const Decimal& b);
  static std::optional<Decimal> Negate(const Decimal& a);

 private:
  Decimal(__int128 units, int scale) : units_(units), scale_(scale) {}
  __int128 units_ = 0;
  int scale_ = 0;
};

}  // namespace fhir::fhirpath

#endif  // SDOH_FHIR_FHIRPATH_DECIMAL_H_
