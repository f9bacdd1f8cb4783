//! `IntOrString`, a field that holds either a count (`maxSurge: 1`) or a percentage
//! (`maxSurge: 25%`), and the Kubernetes rule for turning a percentage into a count.
//!
//! It (de)serializes untagged: a JSON/YAML integer is `Int`, a string is `String`. The
//! deserializer is written by hand so that a wrong type gets a clear message rather than serde's
//! "did not match any variant".

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// An integer or a string such as `"25%"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IntOrString {
    Int(i32),
    String(String),
}

/// A value that cannot be scaled to a count.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IntOrStringError {
    /// A string value that is not an integer followed by '%'.
    #[error("{value:?} is not a percentage such as \"25%\"")]
    NotAPercentage { value: String },
    /// The scaled count does not fit an i32.
    #[error("{value:?} of {total} is out of range")]
    OutOfRange { value: String, total: i32 },
}

impl Default for IntOrString {
    fn default() -> Self {
        Self::Int(0)
    }
}

impl IntOrString {
    /// The count this value stands for out of `total`: an `Int` is itself, a percentage is
    /// `total × percent / 100`, rounded up or down as asked.
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32, IntOrStringError> {
        let text = match self {
            Self::Int(value) => return Ok(*value),
            Self::String(text) => text,
        };
        let percent: i64 = text
            .strip_suffix('%')
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| IntOrStringError::NotAPercentage {
                value: text.clone(),
            })?;
        let out_of_range = || IntOrStringError::OutOfRange {
            value: text.clone(),
            total,
        };
        let product = percent
            .checked_mul(i64::from(total))
            .ok_or_else(out_of_range)?;
        let scaled = if round_up {
            product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
        } else {
            product.div_euclid(100)
        };
        i32::try_from(scaled).map_err(|_| out_of_range())
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(value) => write!(f, "{value}"),
            Self::String(text) => f.write_str(text),
        }
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Int(value) => serializer.serialize_i32(*value),
            Self::String(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IntOrStringVisitor)
    }
}

struct IntOrStringVisitor;

impl Visitor<'_> for IntOrStringVisitor {
    type Value = IntOrString;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an integer or a percentage such as \"25%\"")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<IntOrString, E> {
        i32::try_from(value)
            .map(IntOrString::Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(value), &self))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<IntOrString, E> {
        i32::try_from(value)
            .map(IntOrString::Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<IntOrString, E> {
        Ok(IntOrString::String(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(text: &str) -> IntOrString {
        IntOrString::String(text.into())
    }

    #[test]
    fn scales_percentages_like_kubernetes() {
        assert_eq!(percent("25%").scaled_value(10, true), Ok(3));
        assert_eq!(percent("25%").scaled_value(10, false), Ok(2));
        assert_eq!(percent("25%").scaled_value(4, true), Ok(1));
        assert_eq!(percent("0%").scaled_value(10, true), Ok(0));
        assert_eq!(percent("100%").scaled_value(7, false), Ok(7));
        assert_eq!(percent("25%").scaled_value(0, true), Ok(0));
        assert_eq!(IntOrString::Int(5).scaled_value(100, true), Ok(5));
    }

    #[test]
    fn rejects_strings_that_are_not_percentages() {
        for text in ["25", "abc%", "%", "2.5%"] {
            assert!(
                matches!(
                    percent(text).scaled_value(10, true),
                    Err(IntOrStringError::NotAPercentage { .. })
                ),
                "{text}"
            );
        }
        assert!(matches!(
            percent("1000000%").scaled_value(i32::MAX, true),
            Err(IntOrStringError::OutOfRange { .. })
        ));
        assert!(matches!(
            percent("9223372036854775807%").scaled_value(2, true),
            Err(IntOrStringError::OutOfRange { .. })
        ));
    }

    #[test]
    fn serde_is_untagged() {
        let values: Vec<IntOrString> = serde_json::from_str(r#"[3, "25%"]"#).unwrap();
        assert_eq!(values, [IntOrString::Int(3), percent("25%")]);
        assert_eq!(serde_json::to_string(&values).unwrap(), r#"[3,"25%"]"#);
        assert!(serde_json::from_str::<IntOrString>("1.5").is_err());
        assert!(serde_json::from_str::<IntOrString>("4294967296").is_err());
    }
}
