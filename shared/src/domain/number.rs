//! The numbers DynamoDB stores: at most 38 significant digits, and a magnitude of
//! 1E-130 up to 9.9999999999999999999999999999999999999E+125 (or zero). See
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html>.
//! Leading and trailing zeros do not count as significant there.

/// Most significant digits DynamoDB keeps.
pub const NUMBER_MAX_DIGITS: usize = 38;
/// Largest decimal exponent of a number's first digit (9.99…E+125).
const MAX_EXPONENT: i64 = 125;
/// Smallest decimal exponent of a nonzero number's first digit (1E-130).
const MIN_EXPONENT: i64 = -130;

/// Why DynamoDB would refuse a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberProblem {
    /// More than [`NUMBER_MAX_DIGITS`] significant digits.
    TooPrecise,
    /// Magnitude of 1E+126 or more, or nonzero below 1E-130.
    OutOfRange,
}

impl NumberProblem {
    /// What a client is told (the number itself is not repeated).
    pub fn message(self) -> &'static str {
        match self {
            Self::TooPrecise => "has more than 38 significant digits, more than can be stored",
            Self::OutOfRange => {
                "is outside the range that can be stored (magnitude from 1E-130 to below 1E+126, or 0)"
            }
        }
    }
}

/// Checks the text of a JSON number (`-?digits[.digits][e[+-]digits]`) exactly,
/// digit by digit, before any rounding to binary. Text that is not a JSON number
/// is out of range.
pub fn check_number_text(text: &str) -> Result<(), NumberProblem> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], parse_exponent(&unsigned[at + 1..])?),
        None => (unsigned, 0),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((_, "")) => return Err(NumberProblem::OutOfRange),
        Some(parts) => parts,
        None => (mantissa, ""),
    };
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(NumberProblem::OutOfRange);
    }
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let Some(first) = digits.iter().position(|d| *d != b'0') else {
        return Ok(()); // zero
    };
    let last = digits.iter().rposition(|d| *d != b'0').unwrap_or(first);
    if last - first + 1 > NUMBER_MAX_DIGITS {
        return Err(NumberProblem::TooPrecise);
    }
    // The first significant digit stands at 10^(int.len() - 1 - first).
    let lead = (int.len() as i64 - 1 - first as i64).saturating_add(exponent);
    if (MIN_EXPONENT..=MAX_EXPONENT).contains(&lead) {
        Ok(())
    } else {
        Err(NumberProblem::OutOfRange)
    }
}

/// Checks a number as `f64`, as it will be written once parsed: its shortest
/// decimal form has at most 17 digits, so only the magnitude can be refused.
pub fn check_number_value(value: f64) -> Result<(), NumberProblem> {
    let magnitude = value.abs();
    if value == 0.0 || (1e-130..1e126).contains(&magnitude) {
        Ok(())
    } else {
        Err(NumberProblem::OutOfRange)
    }
}

/// An exponent's digits, saturating: anything past `i64` is far out of range anyway.
fn parse_exponent(text: &str) -> Result<i64, NumberProblem> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberProblem::OutOfRange);
    }
    let value = digits.bytes().fold(0i64, |acc, d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_dynamodb_stores_pass() {
        for text in [
            "0",
            "-0",
            "0.0",
            "0e999999",
            "1",
            "-17",
            "0.2",
            "1e-130",
            "-1E-130",
            "10e-131",
            "9.9999999999999999999999999999999999999E+125",
            "-9.99e125",
            "0.00001e130",
            "12345678901234567890123456789012345678",
            "1234567890123456789012345678901234567800000",
            "0.000012345678901234567890123456789012345678",
        ] {
            assert_eq!(check_number_text(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn numbers_past_38_digits_are_too_precise() {
        for text in [
            "123456789012345678901234567890123456789",
            "1234567890123456789012345678901234567891",
            "-1.234567890123456789012345678901234567891",
            "0.1000000000000000000000000000000000000001",
        ] {
            assert_eq!(
                check_number_text(text),
                Err(NumberProblem::TooPrecise),
                "{text}"
            );
        }
    }

    #[test]
    fn numbers_outside_the_range_are_refused() {
        for text in [
            "1e126",
            "-1e126",
            "1e200",
            "1e-200",
            "9.99e-131",
            "1e-400",
            "1e400",
            "1e99999999999999999999999999",
            "1e-99999999999999999999999999",
            "0.1e-130",
            "1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(
                check_number_text(text),
                Err(NumberProblem::OutOfRange),
                "{text}"
            );
        }
    }

    #[test]
    fn text_that_is_not_a_number_never_passes_or_panics() {
        for text in ["", "-", ".5", "1.", "e5", "1e", "1e+", "abc", "1_0", "١"] {
            assert_eq!(
                check_number_text(text),
                Err(NumberProblem::OutOfRange),
                "{text}"
            );
        }
    }

    #[test]
    fn parsed_values_are_checked_by_magnitude() {
        assert_eq!(check_number_value(0.0), Ok(()));
        assert_eq!(check_number_value(-0.5), Ok(()));
        assert_eq!(check_number_value(1e-130), Ok(()));
        assert_eq!(check_number_value(9.99e125), Ok(()));
        assert_eq!(check_number_value(1e126), Err(NumberProblem::OutOfRange));
        assert_eq!(check_number_value(-1e200), Err(NumberProblem::OutOfRange));
        assert_eq!(check_number_value(1e-131), Err(NumberProblem::OutOfRange));
    }
}
