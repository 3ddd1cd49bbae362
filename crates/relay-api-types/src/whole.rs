//! Whole numbers in request bodies.
//!
//! JSON has one number type: `1.0` is the integer 1 for JSON Schema (`type: integer`)
//! and for most clients that produce it. Integer fields of requests therefore accept
//! an integral number written with a fraction part (`1.0`, `3e1`) as well as `1`; a
//! number with a real fraction (`1.5`) or out of the field's range is refused, and the
//! error names the kind of value only, never the value.

use serde::de::{self, Deserializer, Unexpected, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// An integer type a request field can have.
pub trait Whole: Sized + Copy {
    /// What the error says is expected.
    const EXPECTED: &'static str;
    /// `v` in this type's range.
    fn from_i128(v: i128) -> Option<Self>;
}

macro_rules! whole {
    ($($t:ty => $what:literal),+) => {$(
        impl Whole for $t {
            const EXPECTED: &'static str = $what;
            fn from_i128(v: i128) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
        }
    )+};
}

whole!(u32 => "a whole number (u32)", u64 => "a whole number (u64)", i64 => "an integer (i64)");

struct WholeVisitor<T>(PhantomData<T>);

impl<T: Whole> WholeVisitor<T> {
    fn range<E: de::Error>(v: i128, unexpected: Unexpected<'_>) -> Result<T, E> {
        T::from_i128(v).ok_or_else(|| E::invalid_value(unexpected, &T::EXPECTED))
    }
}

impl<'de, T: Whole> Visitor<'de> for WholeVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Self::range(v.into(), Unexpected::Signed(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Self::range(v.into(), Unexpected::Unsigned(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // Exactly integral and well inside i128: 2^100 bounds every supported type.
        if v.fract() == 0.0 && v.abs() < 1e30 {
            Self::range(v as i128, Unexpected::Float(v))
        } else {
            Err(E::invalid_type(Unexpected::Float(v), &T::EXPECTED))
        }
    }
}

/// Deserializes a whole number (`#[serde(deserialize_with = "whole::required")]`).
pub fn required<'de, D: Deserializer<'de>, T: Whole>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(WholeVisitor(PhantomData))
}

/// Deserializes an optional whole number: `null` or absent is `None`
/// (`#[serde(default, deserialize_with = "whole::optional")]`).
pub fn optional<'de, D: Deserializer<'de>, T: Whole>(d: D) -> Result<Option<T>, D::Error> {
    struct Opt<T>(PhantomData<T>);
    impl<'de, T: Whole> Visitor<'de> for Opt<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(T::EXPECTED)
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Option<T>, D2::Error> {
            required(d).map(Some)
        }
    }
    d.deserialize_option(Opt(PhantomData))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::optional")]
        days: Option<u32>,
        #[serde(default, deserialize_with = "super::optional")]
        user: Option<i64>,
    }

    fn days(json: &str) -> Result<Option<u32>, String> {
        serde_json::from_str::<Body>(json)
            .map(|b| b.days)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn integral_numbers_with_a_fraction_part_are_whole() {
        assert_eq!(days(r#"{"days": 30}"#), Ok(Some(30)));
        assert_eq!(days(r#"{"days": 30.0}"#), Ok(Some(30)));
        assert_eq!(days(r#"{"days": 3e1}"#), Ok(Some(30)));
        assert_eq!(days(r#"{"days": null}"#), Ok(None));
        assert_eq!(days(r#"{}"#), Ok(None));
        let b: Body = serde_json::from_str(r#"{"user": -4.0}"#).unwrap();
        assert_eq!(b.user, Some(-4));
        // 16 significant digits: read correctly rounded (serde_json `float_roundtrip`),
        // not half a unit off and then refused as a fraction.
        let b: Body = serde_json::from_str(r#"{"user": 4488310771709002.0}"#).unwrap();
        assert_eq!(b.user, Some(4488310771709002));
    }

    #[test]
    fn fractions_and_out_of_range_values_are_refused() {
        let e = days(r#"{"days": 1.5}"#).unwrap_err();
        assert!(e.starts_with("invalid type: floating point"), "{e}");
        assert!(e.contains("expected a whole number (u32)"), "{e}");
        let e = days(r#"{"days": -1}"#).unwrap_err();
        assert!(e.starts_with("invalid value: integer"), "{e}");
        assert!(days(r#"{"days": 4294967296}"#).is_err());
        assert!(days(r#"{"days": 1e300}"#).is_err());
        assert!(days(r#"{"days": "30"}"#).is_err());
    }
}
