//! Resource quantities (`500m`, `128Mi`, `1.5Gi`, `1e3`) parsed exactly as Kubernetes does.
//!
//! A `Quantity` keeps the text the user wrote, so objects round-trip byte for byte and old
//! manifests look the same when read back; the number is only computed on demand. Parsing
//! yields an exact decimal (`mantissa × 10^exponent × 2^binary`), and conversions to integer
//! units round up in magnitude like Kubernetes' `Value()` and `MilliValue()`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Suffixes a quantity may end with, and the power of ten or two they stand for.
const DECIMAL_SUFFIXES: [(&str, i64); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];
const BINARY_SUFFIXES: [(&str, u32); 6] = [
    ("Ki", 10),
    ("Mi", 20),
    ("Gi", 30),
    ("Ti", 40),
    ("Pi", 50),
    ("Ei", 60),
];
/// Exponents beyond this cannot describe a resource amount; rejecting them keeps the
/// arithmetic bounded.
const MAX_EXPONENT: i64 = 1000;
/// Significant digits that always fit in a `u128`.
const MAX_SIGNIFICANT_DIGITS: usize = 38;

/// A resource amount as written in an object (`"500m"`, `"128Mi"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Quantity(pub String);

/// What is wrong with a quantity's text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuantityError {
    /// The text is empty.
    #[error("quantity is empty")]
    Empty,
    /// The text has no digits where the number should be.
    #[error("quantity {text:?} does not start with a number")]
    NoDigits { text: String },
    /// The text after the number is not a known suffix.
    #[error(
        "quantity {text:?} has unknown suffix {suffix:?} (expected one of n, u, m, k, M, G, T, P, \
         E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3)"
    )]
    UnknownSuffix { text: String, suffix: String },
    /// The decimal exponent after `e`/`E` is not an integer in range.
    #[error("quantity {text:?} has an invalid exponent")]
    InvalidExponent { text: String },
    /// More significant digits than can be represented exactly.
    #[error("quantity {text:?} has more than 38 significant digits")]
    TooPrecise { text: String },
    /// The amount does not fit the integer type asked for.
    #[error("quantity {text:?} is too large")]
    OutOfRange { text: String },
    /// A negative amount where only non-negative ones make sense.
    #[error("quantity {text:?} is negative")]
    Negative { text: String },
}

/// An exactly parsed quantity: `sign × mantissa × 10^decimal_exponent × 2^binary_exponent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedQuantity {
    text: String,
    negative: bool,
    mantissa: u128,
    decimal_exponent: i64,
    binary_exponent: u32,
}

impl Quantity {
    /// Parses quantity text with Kubernetes' grammar: an optionally signed decimal number
    /// followed by a decimal SI suffix, a binary suffix or a decimal exponent.
    pub fn parse(text: &str) -> Result<ParsedQuantity, QuantityError> {
        ParsedQuantity::parse(text)
    }

    /// A whole number of units, e.g. `from_value(4)` is `"4"`.
    pub fn from_value(value: i128) -> Self {
        Self(value.to_string())
    }

    /// An amount in thousandths, written the way Kubernetes does (`"1500m"`, `"2"`).
    pub fn from_millis(millis: i128) -> Self {
        if millis % 1000 == 0 {
            Self((millis / 1000).to_string())
        } else {
            Self(format!("{millis}m"))
        }
    }

    /// The amount in thousandths of a unit, rounded up.
    pub fn milli_value(&self) -> Result<i128, QuantityError> {
        Self::parse(&self.0)?.milli_value()
    }

    /// The amount in whole units, rounded up.
    pub fn value(&self) -> Result<i128, QuantityError> {
        Self::parse(&self.0)?.value()
    }

    /// A CPU amount in millicores; negative amounts are an error.
    pub fn cpu_millis(&self) -> Result<u64, QuantityError> {
        let parsed = Self::parse(&self.0)?;
        parsed.non_negative(parsed.milli_value()?)
    }

    /// A memory or storage amount in bytes; negative amounts are an error.
    pub fn bytes(&self) -> Result<u64, QuantityError> {
        let parsed = Self::parse(&self.0)?;
        parsed.non_negative(parsed.value()?)
    }
}

impl From<&str> for Quantity {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ParsedQuantity {
    fn parse(text: &str) -> Result<Self, QuantityError> {
        if text.is_empty() {
            return Err(QuantityError::Empty);
        }
        let (negative, unsigned) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let integer_len = leading_digits(unsigned);
        let (fraction, rest) = match unsigned[integer_len..].strip_prefix('.') {
            Some(after_point) => {
                let fraction_len = leading_digits(after_point);
                (&after_point[..fraction_len], &after_point[fraction_len..])
            }
            None => ("", &unsigned[integer_len..]),
        };
        let integer = &unsigned[..integer_len];
        if integer.is_empty() && fraction.is_empty() {
            return Err(QuantityError::NoDigits {
                text: text.to_owned(),
            });
        }
        let (suffix_exponent, binary_exponent) = interpret_suffix(text, rest)?;
        let fraction_len = i64::try_from(fraction.len()).map_err(|_| too_precise(text))?;
        let mut decimal_exponent = suffix_exponent - fraction_len;

        let digits = format!("{integer}{fraction}");
        let significant = digits.trim_start_matches('0');
        let trimmed = significant.trim_end_matches('0');
        let trailing_zeros = significant.len() - trimmed.len();
        decimal_exponent += i64::try_from(trailing_zeros).map_err(|_| too_precise(text))?;
        if trimmed.len() > MAX_SIGNIFICANT_DIGITS {
            return Err(too_precise(text));
        }
        let mantissa = if trimmed.is_empty() {
            0
        } else {
            trimmed.parse::<u128>().map_err(|_| too_precise(text))?
        };
        Ok(Self {
            text: text.to_owned(),
            negative: negative && mantissa != 0,
            mantissa,
            decimal_exponent: if mantissa == 0 { 0 } else { decimal_exponent },
            binary_exponent,
        })
    }

    /// The amount in thousandths of a unit, rounded up in magnitude (`"0.1m"` is 1).
    pub fn milli_value(&self) -> Result<i128, QuantityError> {
        self.scaled(3)
    }

    /// The amount in whole units, rounded up in magnitude (`"0.5"` is 1).
    pub fn value(&self) -> Result<i128, QuantityError> {
        self.scaled(0)
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// `ceil(|amount| × 10^shift)` with the amount's sign.
    fn scaled(&self, shift: i64) -> Result<i128, QuantityError> {
        if self.mantissa == 0 {
            return Ok(0);
        }
        let out_of_range = || QuantityError::OutOfRange {
            text: self.text.clone(),
        };
        let numerator = self
            .mantissa
            .checked_mul(1u128 << self.binary_exponent)
            .ok_or_else(out_of_range)?;
        let exponent = self.decimal_exponent + shift;
        let magnitude = if exponent >= 0 {
            let factor = u32::try_from(exponent)
                .ok()
                .and_then(|e| 10u128.checked_pow(e))
                .ok_or_else(out_of_range)?;
            numerator.checked_mul(factor).ok_or_else(out_of_range)?
        } else {
            match u32::try_from(-exponent)
                .ok()
                .and_then(|e| 10u128.checked_pow(e))
            {
                Some(divisor) => numerator.div_ceil(divisor),
                // The divisor exceeds any u128 numerator: a positive amount below one unit.
                None => 1,
            }
        };
        let magnitude = i128::try_from(magnitude).map_err(|_| out_of_range())?;
        Ok(if self.negative { -magnitude } else { magnitude })
    }

    fn non_negative(&self, value: i128) -> Result<u64, QuantityError> {
        if value < 0 {
            return Err(QuantityError::Negative {
                text: self.text.clone(),
            });
        }
        u64::try_from(value).map_err(|_| QuantityError::OutOfRange {
            text: self.text.clone(),
        })
    }
}

fn leading_digits(text: &str) -> usize {
    text.bytes().take_while(u8::is_ascii_digit).count()
}

fn too_precise(text: &str) -> QuantityError {
    QuantityError::TooPrecise {
        text: text.to_owned(),
    }
}

/// Returns (power of ten, power of two) for the text after the number.
fn interpret_suffix(text: &str, suffix: &str) -> Result<(i64, u32), QuantityError> {
    if let Some((_, power)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Ok((*power, 0));
    }
    if let Some((_, power)) = BINARY_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Ok((0, *power));
    }
    if suffix.len() > 1 && suffix.starts_with(['e', 'E']) {
        let exponent_text = &suffix[1..];
        let unsigned = exponent_text
            .strip_prefix(['+', '-'])
            .unwrap_or(exponent_text);
        let exponent = if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
            exponent_text.parse::<i64>().ok()
        } else {
            None
        };
        return match exponent {
            Some(exponent) if exponent.abs() <= MAX_EXPONENT => Ok((exponent, 0)),
            _ => Err(QuantityError::InvalidExponent {
                text: text.to_owned(),
            }),
        };
    }
    Err(QuantityError::UnknownSuffix {
        text: text.to_owned(),
        suffix: suffix.to_owned(),
    })
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// Accepts strings and, as YAML and JSON writers often produce them, bare numbers
    /// (`cpu: 1`, `cpu: 0.5`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a quantity such as \"500m\", \"128Mi\" or a number")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Quantity, E> {
        Ok(Quantity(text.to_owned()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Quantity, E> {
        Ok(Quantity(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Quantity, E> {
        Ok(Quantity(value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Quantity, E> {
        if value.is_finite() {
            Ok(Quantity(value.to_string()))
        } else {
            Err(E::invalid_value(de::Unexpected::Float(value), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_examples() {
        let cases: [(&str, i128, i128); 20] = [
            ("500m", 500, 1),
            ("1", 1000, 1),
            ("0.1", 100, 1),
            ("128Mi", 134_217_728_000, 134_217_728),
            ("1G", 1_000_000_000_000, 1_000_000_000),
            ("1e3", 1_000_000, 1000),
            ("1E3", 1_000_000, 1000),
            ("2Ki", 2_048_000, 2048),
            ("1.5Gi", 1_610_612_736_000, 1_610_612_736),
            ("0.5", 500, 1),
            ("+2", 2000, 2),
            ("-2", -2000, -2),
            ("-0.5", -500, -1),
            ("1.", 1000, 1),
            (".5", 500, 1),
            ("100n", 1, 1),
            ("5u", 1, 1),
            ("1k", 1_000_000, 1000),
            (
                "1E",
                1_000_000_000_000_000_000_000,
                1_000_000_000_000_000_000,
            ),
            ("12e-3", 12, 1),
        ];
        for (text, milli, value) in cases {
            let parsed = Quantity::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed.milli_value().unwrap(), milli, "{text} milli");
            assert_eq!(parsed.value().unwrap(), value, "{text} value");
        }
    }

    #[test]
    fn zero_in_any_spelling_is_zero() {
        for text in ["0", "-0", "0.000", "0Gi", "0e9", "000m"] {
            let parsed = Quantity::parse(text).unwrap();
            assert_eq!(parsed.milli_value().unwrap(), 0, "{text}");
            assert!(!parsed.is_negative(), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_text() {
        assert_eq!(Quantity::parse(""), Err(QuantityError::Empty));
        for text in ["-", "+", ".", "m", "Gi", "-Ki"] {
            assert!(
                matches!(Quantity::parse(text), Err(QuantityError::NoDigits { .. })),
                "{text}"
            );
        }
        for (text, suffix) in [
            ("1.2.3", ".3"),
            ("12Qi", "Qi"),
            ("1 Gi", " Gi"),
            ("1e", "e"),
        ] {
            assert_eq!(
                Quantity::parse(text),
                Err(QuantityError::UnknownSuffix {
                    text: text.into(),
                    suffix: suffix.into()
                })
            );
        }
        for text in ["1e3.5", "1e+", "1e99999", "1Ee"] {
            assert!(
                matches!(
                    Quantity::parse(text),
                    Err(QuantityError::InvalidExponent { .. })
                ),
                "{text}"
            );
        }
        assert!(matches!(
            Quantity::parse("1234567890123456789012345678901234567891"),
            Err(QuantityError::TooPrecise { .. })
        ));
    }

    #[test]
    fn errors_name_the_text() {
        let message = Quantity::parse("12Qi").unwrap_err().to_string();
        assert!(message.contains("\"12Qi\""), "{message}");
        assert!(message.contains("\"Qi\""), "{message}");
    }

    #[test]
    fn huge_values_are_out_of_range_not_wrapped() {
        let parsed = Quantity::parse("1e300").unwrap();
        assert!(matches!(
            parsed.value(),
            Err(QuantityError::OutOfRange { .. })
        ));
        assert_eq!(Quantity::parse("1e-300").unwrap().value().unwrap(), 1);
    }

    #[test]
    fn unit_conversions_reject_negative_amounts() {
        assert_eq!(Quantity::from("250m").cpu_millis().unwrap(), 250);
        assert_eq!(Quantity::from("1Gi").bytes().unwrap(), 1 << 30);
        assert!(matches!(
            Quantity::from("-1").cpu_millis(),
            Err(QuantityError::Negative { .. })
        ));
        assert!(matches!(
            Quantity::from("1e30").bytes(),
            Err(QuantityError::OutOfRange { .. })
        ));
    }

    #[test]
    fn builds_canonical_text() {
        assert_eq!(Quantity::from_millis(1500).0, "1500m");
        assert_eq!(Quantity::from_millis(2000).0, "2");
        assert_eq!(Quantity::from_value(17_179_869_184).0, "17179869184");
    }

    #[test]
    fn deserializes_strings_and_numbers() {
        let parsed: Vec<Quantity> = serde_json::from_str(r#"["500m", 1, 0.5, 2e3]"#).unwrap();
        let texts: Vec<&str> = parsed.iter().map(|q| q.0.as_str()).collect();
        assert_eq!(texts, ["500m", "1", "0.5", "2000"]);
        assert!(serde_json::from_str::<Quantity>("true").is_err());
        assert_eq!(
            serde_json::to_string(&Quantity::from("128Mi")).unwrap(),
            "\"128Mi\""
        );
    }
}
