//! Integer arithmetic shared by the loyalty modules: one rounding rule (half away from zero) and
//! one way of splitting a whole into parts (largest remainder), so every module rounds alike.

/// `numerator / denominator` rounded half away from zero; `None` if the denominator is zero or
/// the result does not fit in `i64`.
pub(crate) fn div_round_half_up(numerator: i128, denominator: i128) -> Option<i64> {
    if denominator == 0 {
        return None;
    }
    let (n, d) = if denominator < 0 {
        (numerator.checked_neg()?, denominator.checked_neg()?)
    } else {
        (numerator, denominator)
    };
    // q = floor((2|n| + d) / 2d): the nearest integer, an exact half going away from zero.
    let twice = n.checked_abs()?.checked_mul(2)?;
    let magnitude = twice.checked_add(d)?.checked_div(d.checked_mul(2)?)?;
    let q = if n < 0 { -magnitude } else { magnitude };
    i64::try_from(q).ok()
}

/// Splits `total` into parts proportional to `weights` so that the parts sum to `total` exactly:
/// each part first gets the floor of its exact share, then the units left over go one each to
/// the parts with the largest remainders, ties going to the lower index (so the result depends
/// only on the inputs' order, never on hashing or sorting stability).
///
/// Weights must be non-negative; negative weights count as zero. When every weight is zero the
/// whole goes to the first part (a non-empty `weights` always receives all of `total`).
/// `total` may be negative: the parts are then the negated split of `-total`.
/// Returns an empty vector for empty `weights`.
pub fn allocate_largest_remainder(total: i64, weights: &[i128]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    if total < 0 {
        // i64::MIN cannot be negated; splitting it is never meaningful for points or money.
        let Some(positive) = total.checked_neg() else {
            return vec![0; weights.len()];
        };
        return allocate_largest_remainder(positive, weights)
            .into_iter()
            .map(|p| -p)
            .collect();
    }
    let clean: Vec<i128> = weights.iter().map(|&w| w.max(0)).collect();
    let sum: i128 = clean.iter().fold(0_i128, |s, &w| s.saturating_add(w));
    let mut parts = vec![0_i64; clean.len()];
    if sum == 0 {
        parts[0] = total;
        return parts;
    }
    let total_wide = i128::from(total);
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(clean.len());
    let mut given: i64 = 0;
    for (i, &w) in clean.iter().enumerate() {
        // total ≤ 2^63 and w ≤ sum; a product beyond i128 would need weights near 2^64, which
        // saturate to a share of the whole total — still a split that sums correctly below.
        let product = total_wide.saturating_mul(w);
        let share = product / sum;
        let part = i64::try_from(share.min(total_wide)).unwrap_or(total);
        parts[i] = part;
        given = given.saturating_add(part);
        remainders.push((product % sum, i));
    }
    let mut left = total.saturating_sub(given).max(0);
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut k = 0;
    while left > 0 && !remainders.is_empty() {
        let index = remainders[k % remainders.len()].1;
        parts[index] = parts[index].saturating_add(1);
        left -= 1;
        k += 1;
    }
    parts
}
