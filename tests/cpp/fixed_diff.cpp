// Differential oracle for generator/fixed.py: casts through the real ap_fixed.h.
//
// The type combinations are template parameters, so they come from a generated list
// that tests/test_fixed_differential.py writes and names with
//   -DFIXED_DIFF_CASES=\"/path/to/cases.inc\"
// The list holds lines
//   FIXED_DIFF_CAST(sw, si, ss, dw, di, ds, q, o)   // ap_[u]fixed<sw,si> -> dst
//   FIXED_DIFF_DOUBLE(dw, di, ds, q, o)             // double -> dst
// with ss/ds = 1 for ap_fixed and 0 for ap_ufixed, q an index into kQ and o an index
// into kO below (the order of generator.fixed.Rounding / Overflow).
//
// Compile with -DNDEBUG: without it ap_private.h (hls4ml's copy of the headers) asserts
// on a bit read that ap_fixed_base::operator= performs, and then ignores, when a rounding
// cast drops more than the source width + 1 bits: it aborts on valid casts such as
// ap_fixed<4,-4> -> ap_fixed<8,8,AP_RND>. NDEBUG only removes such checks and the
// _AP_WARNING messages; it does not change any result.
//
// The list may be split over several translation units compiled in parallel; exactly
// one of them is compiled with -DFIXED_DIFF_MAIN and holds the registry and main().
//
// stdin, one case per line, answers on stdout one line each (the destination raw
// integer, sign-extended when the destination is signed):
//   F sw si ss dw di ds q o raw     raw: the source's raw integer in decimal
//   D dw di ds q o x                x: a double, e.g. a C99 hex float (%a)
#include <ap_fixed.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <type_traits>

namespace fixed_diff {

constexpr ap_q_mode kQ[] = {AP_TRN,     AP_TRN_ZERO,    AP_RND,    AP_RND_ZERO,
                            AP_RND_MIN_INF, AP_RND_INF, AP_RND_CONV};
constexpr ap_o_mode kO[] = {AP_WRAP, AP_SAT, AP_SAT_ZERO, AP_SAT_SYM};

template <int W, int I, bool S, ap_q_mode Q = AP_TRN, ap_o_mode O = AP_WRAP>
using fx = typename std::conditional<S, ap_fixed<W, I, Q, O>, ap_ufixed<W, I, Q, O>>::type;

// Raw bits of a W-bit value, sign-extended when S.
template <int W, bool S>
std::int64_t extend(std::uint64_t bits) {
  if (W < 64) bits &= (std::uint64_t(1) << W) - 1;
  if (S && W < 64 && ((bits >> (W - 1)) & 1)) bits |= ~std::uint64_t(0) << W;
  return static_cast<std::int64_t>(bits);
}

// (bits_to_uint64() rather than range(): a range reference is a class per Q/O mode,
// and instantiating it for every destination type costs a quarter of the compile time.)
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O>
std::int64_t raw_of(const fx<W, I, S, Q, O>& y) {
  return extend<W, S>(y.bits_to_uint64());
}

template <int SW, int SI, bool SS, int DW, int DI, bool DS, int Q, int O>
std::int64_t cast(std::int64_t raw) {
  fx<SW, SI, SS> x;
  x.range(SW - 1, 0) = static_cast<ap_ulong>(raw);
  fx<DW, DI, DS, kQ[Q], kO[O]> y = x;
  return raw_of<DW, DI, DS, kQ[Q], kO[O]>(y);
}

template <int DW, int DI, bool DS, int Q, int O>
std::int64_t from_double(double d) {
  fx<DW, DI, DS, kQ[Q], kO[O]> y = d;
  return raw_of<DW, DI, DS, kQ[Q], kO[O]>(y);
}

using CastKey = std::array<int, 8>;
using DoubleKey = std::array<int, 5>;
using CastFn = std::int64_t (*)(std::int64_t);
using DoubleFn = std::int64_t (*)(double);

struct Registry {
  std::map<CastKey, CastFn> casts;
  std::map<DoubleKey, DoubleFn> doubles;
};
Registry& registry();

struct CastEntry {
  CastKey key;
  CastFn fn;
};
struct DoubleEntry {
  DoubleKey key;
  DoubleFn fn;
};

}  // namespace fixed_diff

#ifdef FIXED_DIFF_CASES
namespace {
using namespace fixed_diff;
#define FIXED_DIFF_CAST(sw, si, ss, dw, di, ds, q, o) \
  {{sw, si, ss, dw, di, ds, q, o}, &cast<sw, si, ss, dw, di, ds, q, o>},
#define FIXED_DIFF_DOUBLE(dw, di, ds, q, o)
const CastEntry kCasts[] = {
#include FIXED_DIFF_CASES
    {{0, 0, 0, 0, 0, 0, 0, 0}, nullptr}};
#undef FIXED_DIFF_CAST
#undef FIXED_DIFF_DOUBLE
#define FIXED_DIFF_CAST(sw, si, ss, dw, di, ds, q, o)
#define FIXED_DIFF_DOUBLE(dw, di, ds, q, o) \
  {{dw, di, ds, q, o}, &from_double<dw, di, ds, q, o>},
const DoubleEntry kDoubles[] = {
#include FIXED_DIFF_CASES
    {{0, 0, 0, 0, 0}, nullptr}};
#undef FIXED_DIFF_CAST
#undef FIXED_DIFF_DOUBLE

struct Registrar {
  Registrar() {
    for (const CastEntry& e : kCasts)
      if (e.fn) registry().casts[e.key] = e.fn;
    for (const DoubleEntry& e : kDoubles)
      if (e.fn) registry().doubles[e.key] = e.fn;
  }
} registrar;
}  // namespace
#endif  // FIXED_DIFF_CASES

#ifdef FIXED_DIFF_MAIN
fixed_diff::Registry& fixed_diff::registry() {
  static Registry r;
  return r;
}

int main() {
  using namespace fixed_diff;
  char line[512];
  long lineno = 0;
  while (std::fgets(line, sizeof line, stdin)) {
    ++lineno;
    char kind = 0;
    int k[8];
    char value[256];
    if (line[0] == 'F' &&
        std::sscanf(line, " %c %d %d %d %d %d %d %d %d %255s", &kind, &k[0], &k[1], &k[2],
                    &k[3], &k[4], &k[5], &k[6], &k[7], value) == 10) {
      auto it = registry().casts.find(CastKey{k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]});
      if (it == registry().casts.end()) {
        std::fprintf(stderr, "line %ld: cast combination not compiled in: %s", lineno, line);
        return 2;
      }
      std::printf("%lld\n", static_cast<long long>(it->second(std::strtoll(value, nullptr, 10))));
    } else if (line[0] == 'D' && std::sscanf(line, " %c %d %d %d %d %d %255s", &kind, &k[0],
                                             &k[1], &k[2], &k[3], &k[4], value) == 7) {
      auto it = registry().doubles.find(DoubleKey{k[0], k[1], k[2], k[3], k[4]});
      if (it == registry().doubles.end()) {
        std::fprintf(stderr, "line %ld: double combination not compiled in: %s", lineno, line);
        return 2;
      }
      std::printf("%lld\n", static_cast<long long>(it->second(std::strtod(value, nullptr))));
    } else {
      std::fprintf(stderr, "line %ld: malformed case: %s", lineno, line);
      return 2;
    }
  }
  return 0;
}
#endif  // FIXED_DIFF_MAIN
