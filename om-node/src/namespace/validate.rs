//! Checks of client input that every replica makes alike before it changes anything.

use om_client::wire::{ApiError, ErrorCode, LIST_MAX};

/// Checks a volume name like Ozone does (`INVALID_VOLUME_NAME`).
pub fn validate_volume_name(name: &str) -> Result<(), ApiError> {
    validate_resource_name("volume", ErrorCode::InvalidVolumeName, name)
}

/// Checks a bucket name like Ozone and S3 do (`INVALID_BUCKET_NAME`).
pub fn validate_bucket_name(name: &str) -> Result<(), ApiError> {
    validate_resource_name("bucket", ErrorCode::InvalidBucketName, name)
}

fn validate_resource_name(kind: &str, code: ErrorCode, name: &str) -> Result<(), ApiError> {
    let bad = |why: &str| Err(ApiError::new(code, format!("Invalid {kind} name: {name} ({why})")));
    if name.len() < 3 || name.len() > 63 {
        return bad("length must be between 3 and 63");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.') {
        return bad("only lowercase letters, digits, '-' and '.' are allowed");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("must start and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("'..', '.-' and '-.' are not allowed");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return bad("must not look like an IP address");
    }
    Ok(())
}

/// Checks a key name: non-empty, at most 1024 bytes, no NUL.
pub fn validate_key_name(name: &str) -> Result<(), ApiError> {
    let bad = |why: &str| Err(ApiError::new(ErrorCode::InvalidKeyName, format!("Invalid key name: {name:?} ({why})")));
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if name.contains('\0') {
        return bad("contains NUL");
    }
    Ok(())
}

/// Checks a quota: positive, or -1 (or none) for unlimited.
pub(super) fn validate_quota(field: &str, q: Option<i64>) -> Result<i64, ApiError> {
    match q {
        None | Some(-1) => Ok(-1),
        Some(n) if n > 0 => Ok(n),
        Some(n) => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{field} must be positive or -1 (unlimited), got {n}"),
        )),
    }
}

/// Checks a list page size: default 100, at most [`LIST_MAX`].
pub fn page_size(max: Option<u32>) -> Result<usize, ApiError> {
    match max {
        None => Ok(100),
        Some(0) => Err(ApiError::new(ErrorCode::InvalidRequest, "max must be at least 1")),
        Some(n) if n > LIST_MAX => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("max {n} exceeds the largest page of {LIST_MAX}; page with start_after"),
        )),
        Some(n) => Ok(n as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for bad in ["ab", "Abc", "a_b", "-ab", "ab-", "a..b", "a.-b", "192.168.1.1", &"x".repeat(64)] {
            assert_eq!(validate_volume_name(bad).unwrap_err().code, ErrorCode::InvalidVolumeName, "{bad}");
            let e = validate_bucket_name(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidBucketName, "{bad}");
            assert!(e.message.starts_with(&format!("Invalid bucket name: {bad} (")), "{}", e.message);
        }
        for good in ["abc", "a-b.c", "vol1", &"x".repeat(63)] {
            validate_volume_name(good).unwrap();
            validate_bucket_name(good).unwrap();
        }
        assert_eq!(validate_key_name("").unwrap_err().code, ErrorCode::InvalidKeyName);
    }
}
