//! Lengths of time: the `within` windows of templates and the durations of
//! the settings, in django-hitcount's `days=1,minutes=30` grammar.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::error::{WindowError, WindowErrorKind};

/// The keys of the grammar, with their length in seconds, in display order.
const UNITS: [(&str, u64); 5] = [
    ("weeks", 7 * 86_400),
    ("days", 86_400),
    ("hours", 3_600),
    ("minutes", 60),
    ("seconds", 1),
];

/// The longest window accepted: 100 years keeps every timestamp computation
/// far from overflow.
const MAX_SECONDS: u64 = 100 * 366 * 86_400;

/// A length of time, such as the `within` argument of `get_hit_count` or the
/// `keep_hit_active` setting. Whole seconds.
///
/// It parses django-hitcount's grammar: comma-separated `key=number` parts
/// with the keys `weeks`, `days`, `hours`, `minutes` and `seconds`,
/// optionally inside double quotes. No spaces, no repeated keys, whole
/// non-negative numbers.
///
/// ```
/// use hitcount::Window;
///
/// let w: Window = "days=1,minutes=30".parse().unwrap();
/// assert_eq!(w.as_secs(), 86_400 + 30 * 60);
/// assert_eq!(Window::parse("\"hours=1\"").unwrap(), Window::hours(1));
/// assert_eq!(w.to_string(), "days=1,minutes=30");
///
/// let err = Window::parse("days=1,minuts=30").unwrap_err();
/// assert_eq!(err.token(), "minuts=30");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window(u64);

impl Window {
    /// A window of `n` seconds. Like every constructor, it is cut to the
    /// longest window, 100 years.
    ///
    /// ```
    /// assert_eq!(hitcount::Window::seconds(90), hitcount::Window::minutes(1).plus(hitcount::Window::seconds(30)));
    /// ```
    pub const fn seconds(n: u64) -> Window {
        Window::of(n, 1)
    }

    /// A window of `n` minutes.
    ///
    /// ```
    /// assert_eq!(hitcount::Window::minutes(2).as_secs(), 120);
    /// ```
    pub const fn minutes(n: u64) -> Window {
        Window::of(n, 60)
    }

    /// A window of `n` hours.
    ///
    /// ```
    /// assert_eq!(hitcount::Window::hours(1).as_secs(), 3_600);
    /// ```
    pub const fn hours(n: u64) -> Window {
        Window::of(n, 3_600)
    }

    /// A window of `n` days.
    ///
    /// ```
    /// assert_eq!(hitcount::Window::days(7), hitcount::Window::parse("weeks=1").unwrap());
    /// ```
    pub const fn days(n: u64) -> Window {
        Window::of(n, 86_400)
    }

    /// The sum of two windows.
    ///
    /// ```
    /// use hitcount::Window;
    /// assert_eq!(Window::days(1).plus(Window::hours(2)).to_string(), "days=1,hours=2");
    /// ```
    pub const fn plus(self, other: Window) -> Window {
        Window::of(self.0.saturating_add(other.0), 1)
    }

    /// `n` units of `unit` seconds, cut to [`MAX_SECONDS`], so that every
    /// timestamp computed with a window stays in range.
    const fn of(n: u64, unit: u64) -> Window {
        let secs = n.saturating_mul(unit);
        Window(if secs > MAX_SECONDS { MAX_SECONDS } else { secs })
    }

    /// The length in whole seconds.
    ///
    /// ```
    /// assert_eq!(hitcount::Window::minutes(1).as_secs(), 60);
    /// ```
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// The length as a [`std::time::Duration`].
    ///
    /// ```
    /// assert_eq!(hitcount::Window::seconds(5).as_duration(), std::time::Duration::from_secs(5));
    /// ```
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.0)
    }

    pub(crate) fn as_chrono(self) -> chrono::TimeDelta {
        // Every constructor caps at MAX_SECONDS, which keeps this in range.
        chrono::TimeDelta::seconds(self.0 as i64)
    }

    /// Parses django-hitcount's window grammar, `days=1,minutes=30`, with or
    /// without surrounding double quotes. The error names the bad part.
    ///
    /// ```
    /// use hitcount::{Window, WindowErrorKind};
    ///
    /// assert_eq!(Window::parse("hours=1,minutes=30").unwrap(), Window::minutes(90));
    /// let err = Window::parse("days=1, minutes=30").unwrap_err();
    /// assert_eq!(err.kind(), WindowErrorKind::Whitespace);
    /// assert_eq!(err.token(), " minutes=30");
    /// ```
    pub fn parse(input: &str) -> Result<Window, WindowError> {
        let fail = |token: &str, kind| WindowError::new(input, token, kind);
        let unquoted = match (input.strip_prefix('"'), input.ends_with('"')) {
            (Some(rest), true) if !rest.is_empty() => &rest[..rest.len() - 1],
            (None, false) => input,
            _ => return Err(fail(input, WindowErrorKind::UnbalancedQuote)),
        };
        if unquoted.is_empty() {
            return Err(fail(input, WindowErrorKind::Empty));
        }
        let mut parts = Vec::new();
        for part in unquoted.split(',') {
            if part.is_empty() {
                return Err(fail(part, WindowErrorKind::EmptyPart));
            }
            if part.chars().any(char::is_whitespace) {
                return Err(fail(part, WindowErrorKind::Whitespace));
            }
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| fail(part, WindowErrorKind::MissingEquals))?;
            let number = parse_number(value).map_err(|kind| fail(part, kind))?;
            parts.push((key, number, part));
        }
        Window::from_parts(parts).map_err(|(token, kind)| fail(token, kind))
    }

    /// Adds up `key = number` parts, rejecting unknown and repeated keys and
    /// windows too long to compute with. Shared by the text grammar and the
    /// TOML table form.
    fn from_parts<'a>(
        parts: impl IntoIterator<Item = (&'a str, u64, &'a str)>,
    ) -> Result<Window, (&'a str, WindowErrorKind)> {
        let mut seen = [false; UNITS.len()];
        let mut total: u64 = 0;
        for (key, number, token) in parts {
            let index = UNITS
                .iter()
                .position(|(name, _)| *name == key)
                .ok_or((token, WindowErrorKind::UnknownKey))?;
            if std::mem::replace(&mut seen[index], true) {
                return Err((token, WindowErrorKind::RepeatedKey));
            }
            total = number
                .checked_mul(UNITS[index].1)
                .and_then(|secs| total.checked_add(secs))
                .filter(|secs| *secs <= MAX_SECONDS)
                .ok_or((token, WindowErrorKind::TooLong))?;
        }
        Ok(Window(total))
    }

    /// Parses a duration as settings and the command line write it:
    /// `"7 days"`, `"90 minutes"`, `"1h 30m"` (humantime), or the window
    /// grammar `"days=7"`. The error says what is wrong and what to write.
    ///
    /// ```
    /// use hitcount::Window;
    /// assert_eq!(Window::parse_duration("30 days").unwrap(), Window::days(30));
    /// assert_eq!(Window::parse_duration("days=30").unwrap(), Window::days(30));
    /// let err = Window::parse_duration("a fortnight").unwrap_err();
    /// assert_eq!(err.to_string(), "invalid duration \"a fortnight\": write e.g. \"7 days\", \"90 minutes\" or days=7");
    /// ```
    pub fn parse_duration(input: &str) -> Result<Window, WindowError> {
        if input.contains('=') {
            return Window::parse(input);
        }
        let fail = |kind| WindowError::new(input, input, kind);
        let duration = humantime::parse_duration(input).map_err(|_| fail(WindowErrorKind::NotADuration))?;
        let secs = duration.as_secs();
        if secs > MAX_SECONDS {
            return Err(fail(WindowErrorKind::TooLong));
        }
        Ok(Window(secs))
    }
}

fn parse_number(value: &str) -> Result<u64, WindowErrorKind> {
    if value.starts_with('-') && value.len() > 1 && value[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(WindowErrorKind::Negative);
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WindowErrorKind::NotANumber);
    }
    value.parse().map_err(|_| WindowErrorKind::TooLong)
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Window::parse(s)
    }
}

impl fmt::Display for Window {
    /// Writes the window in the grammar it parses from, largest unit first
    /// (weeks are written as days).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut first = true;
        for (name, secs) in &UNITS[1..] {
            let n = rest / secs;
            rest %= secs;
            if n > 0 {
                write!(f, "{}{name}={n}", if first { "" } else { "," })?;
                first = false;
            }
        }
        if first {
            f.write_str("seconds=0")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Window {
    /// Accepts `"7 days"`, `"days=7"` and the table form `{ days = 7 }`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WindowVisitor;

        impl<'de> Visitor<'de> for WindowVisitor {
            type Value = Window;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"7 days\" or { days = 7 }")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Window, E> {
                Window::parse_duration(v).map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Window, A::Error> {
                let mut entries: Vec<(String, i64)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, i64>()? {
                    entries.push((key, value));
                }
                let tokens: Vec<String> = entries.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let mut parts = Vec::new();
                for ((key, value), token) in entries.iter().zip(&tokens) {
                    let number = u64::try_from(*value).map_err(|_| {
                        de::Error::custom(format!("invalid duration part {token:?}: it is negative"))
                    })?;
                    parts.push((key.as_str(), number, token.as_str()));
                }
                Window::from_parts(parts).map_err(|(token, kind)| {
                    de::Error::custom(format!("invalid duration part {token:?}: {}", kind.explain()))
                })
            }
        }

        deserializer.deserialize_any(WindowVisitor)
    }
}

impl serde::Serialize for Window {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WindowErrorKind::*;

    /// One line per case: input, then the seconds it means or the error kind
    /// and the token the error must name.
    macro_rules! window_cases {
        ($($name:ident: $input:expr => $expected:expr;)*) => {$(
            #[test]
            fn $name() {
                check($input, $expected);
            }
        )*};
    }

    enum Expected {
        Secs(u64),
        Fails(WindowErrorKind, &'static str),
    }
    use Expected::*;

    fn check(input: &str, expected: Expected) {
        match (Window::parse(input), expected) {
            (Ok(w), Secs(secs)) => assert_eq!(w.as_secs(), secs, "{input}"),
            (Err(e), Fails(kind, token)) => {
                assert_eq!(e.kind(), kind, "{input}");
                assert_eq!(e.token(), token, "{input}");
                assert!(e.to_string().contains(&format!("{input:?}")), "{e}");
            }
            (got, _) => panic!("{input:?} gave {got:?}"),
        }
    }

    window_cases! {
        days_and_minutes: "days=1,minutes=30" => Secs(86_400 + 1_800);
        quoted: "\"days=1,minutes=30\"" => Secs(86_400 + 1_800);
        one_hour: "hours=1" => Secs(3_600);
        hours_and_minutes_quoted: "\"hours=1,minutes=30\"" => Secs(5_400);
        weeks: "weeks=2" => Secs(14 * 86_400);
        seconds: "seconds=59" => Secs(59);
        all_keys: "weeks=1,days=1,hours=1,minutes=1,seconds=1" => Secs(8 * 86_400 + 3_661);
        any_order: "minutes=30,days=1" => Secs(86_400 + 1_800);
        zero: "days=0" => Secs(0);
        leading_zeros: "days=007" => Secs(7 * 86_400);
        empty: "" => Fails(Empty, "");
        empty_quotes: "\"\"" => Fails(Empty, "\"\"");
        lone_quote: "\"" => Fails(UnbalancedQuote, "\"");
        open_quote: "\"days=1" => Fails(UnbalancedQuote, "\"days=1");
        close_quote: "days=1\"" => Fails(UnbalancedQuote, "days=1\"");
        unknown_key: "foo=1,bar=30" => Fails(UnknownKey, "foo=1");
        unknown_second_key: "days=1,minuts=30" => Fails(UnknownKey, "minuts=30");
        singular_key: "day=1" => Fails(UnknownKey, "day=1");
        uppercase_key: "DAYS=1" => Fails(UnknownKey, "DAYS=1");
        microseconds_unsupported: "microseconds=5" => Fails(UnknownKey, "microseconds=5");
        missing_equals: "days" => Fails(MissingEquals, "days");
        missing_equals_second: "days=1,hours" => Fails(MissingEquals, "hours");
        colon_instead: "days:1" => Fails(MissingEquals, "days:1");
        missing_value: "days=" => Fails(NotANumber, "days=");
        missing_key: "=1" => Fails(UnknownKey, "=1");
        not_integer: "days=x" => Fails(NotANumber, "days=x");
        fraction: "days=1.5" => Fails(NotANumber, "days=1.5");
        plus_sign: "days=+1" => Fails(NotANumber, "days=+1");
        double_equals: "days=1=2" => Fails(NotANumber, "days=1=2");
        negative: "days=-1" => Fails(Negative, "days=-1");
        negative_second: "days=1,minutes=-30" => Fails(Negative, "minutes=-30");
        lone_minus: "days=-" => Fails(NotANumber, "days=-");
        space_after_comma: "days=1, minutes=30" => Fails(Whitespace, " minutes=30");
        space_around_equals: "days = 1" => Fails(Whitespace, "days = 1");
        tab: "days=1\t" => Fails(Whitespace, "days=1\t");
        leading_space: " days=1" => Fails(Whitespace, " days=1");
        trailing_comma: "days=1," => Fails(EmptyPart, "");
        double_comma: "days=1,,hours=1" => Fails(EmptyPart, "");
        only_comma: "," => Fails(EmptyPart, "");
        repeated_key: "days=1,days=2" => Fails(RepeatedKey, "days=2");
        huge_number: "seconds=99999999999999999999999" => Fails(TooLong, "seconds=99999999999999999999999");
        too_long: "weeks=99999999" => Fails(TooLong, "weeks=99999999");
    }

    #[test]
    fn constructors_are_capped_at_100_years() {
        let max = Window::days(100 * 366);
        assert_eq!(Window::days(u64::MAX), max);
        assert_eq!(Window::seconds(u64::MAX).plus(Window::seconds(u64::MAX)), max);
        assert_eq!(Window::minutes(10).plus(Window::seconds(5)).as_secs(), 605);
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "days=1,minutes=30",
            "hours=2",
            "days=14",
            "seconds=0",
            "days=1,hours=1,minutes=1,seconds=1",
        ] {
            assert_eq!(Window::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn error_messages_name_the_token() {
        let err = Window::parse("days=1,minuts=30").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid window \"days=1,minuts=30\": in \"minuts=30\", the key is unknown (use weeks, days, hours, minutes or seconds)"
        );
        let err = Window::parse("days=1,").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid window \"days=1,\": one of the comma-separated parts is empty (a stray comma?)"
        );
    }

    #[derive(serde::Deserialize, Debug)]
    struct Holder {
        w: Window,
    }

    fn from_toml(text: &str) -> Result<Window, String> {
        toml::from_str::<Holder>(text)
            .map(|h| h.w)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn durations_in_settings() {
        assert_eq!(from_toml("w = \"7 days\"").unwrap(), Window::days(7));
        assert_eq!(from_toml("w = \"90 minutes\"").unwrap(), Window::minutes(90));
        assert_eq!(from_toml("w = \"1h 30m\"").unwrap(), Window::minutes(90));
        assert_eq!(from_toml("w = \"days=7\"").unwrap(), Window::days(7));
        assert_eq!(from_toml("w = { days = 7 }").unwrap(), Window::days(7));
        assert_eq!(
            from_toml("w = { days = 1, hours = 12 }").unwrap(),
            Window::hours(36)
        );
    }

    #[test]
    fn bad_durations_in_settings_name_the_value() {
        for (text, needle) in [
            ("w = \"7 dayz\"", "\"7 dayz\""),
            ("w = \"\"", "\"\""),
            ("w = { dayz = 7 }", "dayz=7"),
            ("w = { days = -7 }", "days=-7"),
            ("w = \"days=-7\"", "days=-7"),
            ("w = 7", "duration"),
        ] {
            let err = from_toml(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}

#[cfg(test)]
mod proptests;
