//! CPU and memory amounts as `describe` shows them: millicores as `250m` or whole cores, bytes
//! in the largest binary unit that divides them (`128Mi`), and shares of a node's allocatable
//! amount as whole percents, as kubectl's "Allocated resources" shows them.

/// Binary units, largest first.
const BINARY_UNITS: [(&str, u32); 6] = [
    ("Ei", 60),
    ("Pi", 50),
    ("Ti", 40),
    ("Gi", 30),
    ("Mi", 20),
    ("Ki", 10),
];

/// `250m`, or `2` for whole cores.
pub fn cpu(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// `128Mi`, or plain bytes when no binary unit divides them.
pub fn memory(bytes: u64) -> String {
    if bytes != 0 {
        for (suffix, shift) in BINARY_UNITS {
            let unit = 1_u64 << shift;
            if bytes.is_multiple_of(unit) {
                return format!("{}{suffix}", bytes / unit);
            }
        }
    }
    bytes.to_string()
}

/// `amount (NN%)` of `whole`; just the amount when the whole is not known.
pub fn with_share(amount: String, part: u64, whole: Option<u64>) -> String {
    match whole {
        Some(whole) if whole > 0 => {
            let percent = u128::from(part) * 100 / u128::from(whole);
            format!("{amount} ({percent}%)")
        }
        _ => amount,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_in_cores_or_millicores() {
        assert_eq!(cpu(250), "250m");
        assert_eq!(cpu(2000), "2");
        assert_eq!(cpu(0), "0");
        assert_eq!(cpu(1500), "1500m");
    }

    #[test]
    fn memory_in_the_largest_dividing_unit() {
        assert_eq!(memory(134_217_728), "128Mi");
        assert_eq!(memory(1536 * 1024 * 1024), "1536Mi");
        assert_eq!(memory(2 << 30), "2Gi");
        assert_eq!(memory(1000), "1000");
        assert_eq!(memory(0), "0");
    }

    #[test]
    fn shares_are_whole_percents() {
        assert_eq!(
            with_share("600m".to_string(), 600, Some(4000)),
            "600m (15%)"
        );
        assert_eq!(with_share("1".to_string(), 1, None), "1");
        assert_eq!(with_share("1".to_string(), 1, Some(0)), "1");
    }
}
