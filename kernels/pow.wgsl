// Powers with C's (and torch's) answers at every special value, shared by the unary kernel (a number
// exponent) and the binary one (a tensor exponent). Include after common.wgsl.

// v^p for finite p != 0: 0^p is 0 for p > 0 and +Inf for p < 0, Inf^p the other way round; odd
// integer exponents keep the sign (also of ±0 and ±Inf); other exponents of finite negatives are NaN.
fn pow_finite(v: f32, p: f32) -> f32 {
  if (is_nan(v)) { return v; }
  let neg = v < 0.0 || neg_zero(v);
  let odd = fract(p) == 0.0 && fract(p * 0.5) != 0.0;
  let a = abs(v);
  var r = 0.0;
  if (a == pos_inf()) {
    r = select(pos_inf(), 0.0, p < 0.0);
  } else if (v < 0.0 && fract(p) != 0.0) {
    return nan_f32();
  } else if (a == 0.0) {
    r = select(0.0, pos_inf(), p < 0.0);
  } else {
    let e = p * log2(a);                                 // r = 2^e, overflow and underflow explicit
    if (e >= 128.0) { r = pos_inf(); } else if (e < -150.0) { r = 0.0; } else { r = pow(a, p); }
  }
  return select(r, -r, neg && odd);
}

// x.pow(p) for a number p != 0: exponents ±0.5 are sqrt and rsqrt, as in torch (so (-Inf)^0.5 is
// NaN, not C's +Inf).
fn pow_f(v: f32, p: f32) -> f32 {
  if (p == 0.5) { return sqrt_f(v); }
  if (p == -0.5) { return rsqrt_f(v); }
  return pow_finite(v, p);
}

// C's pow(v, p) for any p (torch.pow of two tensors): x^0 and 1^p are 1 (NaN included), (±1)^±Inf
// is 1, |v|^±Inf is 0 or +Inf by whether |v| < 1 and the exponent's sign; else NaN in, NaN out.
fn pow_c(v: f32, p: f32) -> f32 {
  if ((p == 0.0 && !is_nan(p)) || (v == 1.0 && !is_nan(v))) { return 1.0; }
  if (is_nan(v) || is_nan(p)) { return nan_f32(); }
  let a = abs(v);
  if (abs(p) == pos_inf()) {
    if (a == 1.0) { return 1.0; }
    return select(0.0, pos_inf(), (a > 1.0) == (p > 0.0));
  }
  return pow_finite(v, p);
}
