//! Go-style duration strings (`"90m"`, `"2160h"`, `"1h30m"`, `"1.5s"`), the form Kubernetes
//! APIs and cert-manager use for durations (`metav1.Duration`), so `spec.tls` reads like every
//! other duration a Kubernetes user writes.
//!
//! Accepted: one or more `<number><unit>` groups, the number being digits with an optional
//! fraction, the unit one of `ns`, `us`, `ms`, `s`, `m`, `h`: exactly what the CRD's CEL rule
//! `^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$` lets through (a test in `crd.rs` runs both on the
//! same strings), so the API server and the operator agree on what is valid. Go also accepts a
//! sign, a bare `0` and `µs`; none of them is needed here, so all are refused.

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("expected a number at {0:?}")]
    Number(String),
    #[error("missing unit after {0:?} (one of ns, us, ms, s, m, h)")]
    MissingUnit(String),
    #[error("unknown unit {0:?} (one of ns, us, ms, s, m, h)")]
    Unit(String),
    #[error("duration too long")]
    Overflow,
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// Parses a Go-style duration string.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if int_end == 0 {
            return Err(DurationError::Number(rest.to_string()));
        }
        let (int_part, after_int) = rest.split_at(int_end);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(f) => {
                let end = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                if end == 0 {
                    return Err(DurationError::Number(rest.to_string()));
                }
                f.split_at(end)
            }
            None => ("", after_int),
        };
        let unit_end = after_num.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after_num.len());
        let (unit, next) = after_num.split_at(unit_end);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(rest[..rest.len() - next.len()].to_string()));
        }
        let per = unit_nanos(unit).ok_or_else(|| DurationError::Unit(unit.to_string()))?;
        let whole: u128 = int_part.parse().map_err(|_| DurationError::Overflow)?;
        let mut nanos = whole.checked_mul(per).ok_or(DurationError::Overflow)?;
        // The fraction: digits beyond what a nanosecond resolves are dropped, as Go does.
        let mut scale = per;
        for d in frac_part.bytes().take(30) {
            scale /= 10;
            if scale == 0 {
                break;
            }
            nanos = nanos.checked_add(u128::from(d - b'0') * scale).ok_or(DurationError::Overflow)?;
        }
        total = total.checked_add(nanos).ok_or(DurationError::Overflow)?;
        rest = next;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::Overflow)?;
    // The remainder is below 10^9, so it fits.
    let sub = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, sub))
}

/// Formats a duration the way Go prints one (`2160h0m0s`, `1m30s`, `0s`), to whole seconds
/// (or milliseconds when shorter than a second).
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        let ms = d.subsec_millis();
        return if ms == 0 { "0s".into() } else { format!("{ms}ms") };
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_kubernetes_users_write() {
        let cases = [
            ("2160h", Duration::from_secs(2160 * 3600)),
            ("168h", Duration::from_secs(168 * 3600)),
            ("90m", Duration::from_secs(5400)),
            ("2m", Duration::from_secs(120)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h30m15s", Duration::from_secs(5415)),
            ("1.5s", Duration::from_millis(1500)),
            ("0.5h", Duration::from_secs(1800)),
            ("250ms", Duration::from_millis(250)),
            ("3us", Duration::from_micros(3)),
            ("7ns", Duration::from_nanos(7)),
            ("1m1m", Duration::from_secs(120)),
            ("0s", Duration::ZERO),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn refuses_what_go_or_the_crd_refuses() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("10"), Err(DurationError::MissingUnit("10".into())));
        assert_eq!(parse("1h5"), Err(DurationError::MissingUnit("5".into())));
        assert_eq!(parse("3d"), Err(DurationError::Unit("d".into())));
        assert_eq!(parse("3µs"), Err(DurationError::Unit("µs".into())));
        assert_eq!(parse("1 h"), Err(DurationError::Unit(" h".into())));
        assert_eq!(parse("h"), Err(DurationError::Number("h".into())));
        assert_eq!(parse("-1h"), Err(DurationError::Number("-1h".into())));
        assert_eq!(parse("1.h"), Err(DurationError::Number("1.h".into())));
        assert_eq!(parse(".5h"), Err(DurationError::Number(".5h".into())));
        assert_eq!(parse("99999999999999999999999999999999999999999h"), Err(DurationError::Overflow));
    }

    #[test]
    fn fractions_below_a_nanosecond_are_dropped() {
        assert_eq!(parse("1.0000000001s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("0.333333333333h"), Ok(Duration::new(1199, 999_999_997)));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::from_secs(2160 * 3600)), "2160h0m0s");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(5)), "5s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::ZERO), "0s");
        for s in ["2160h0m0s", "1m30s", "5s"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
