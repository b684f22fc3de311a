//! `--since` and `--until`: a span of whole days (UTC), read from the daily
//! buckets, for `stats` and `export daily` alike.

use chrono::NaiveDate;

use crate::Failure;

/// From a day, up to a day, or both (each included).
#[derive(clap::Args, Clone, Copy, Default)]
pub struct Days {
    /// From this day on (YYYY-MM-DD, UTC; from the daily buckets).
    #[arg(long, value_parser = day, value_name = "DAY")]
    pub since: Option<NaiveDate>,
    /// Up to this day, included (YYYY-MM-DD, UTC; from the daily buckets).
    #[arg(long, value_parser = day, value_name = "DAY")]
    pub until: Option<NaiveDate>,
}

fn day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("expected a day like 2026-11-22, got {text:?}"))
}

impl Days {
    /// Whether a day was given.
    pub fn is_set(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// The span, refused when it ends before it starts.
    pub fn checked(self) -> Result<Days, Failure> {
        match (self.since, self.until) {
            (Some(since), Some(until)) if until < since => Err(format!(
                "--until {until} is before --since {since}: no day is in between"
            )),
            _ => Ok(self),
        }
    }

    /// Whether `day` is in the span.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.since.is_none_or(|since| day >= since) && self.until.is_none_or(|until| day <= until)
    }

    /// The flags as given: `--since 2026-11-01 --until 2026-11-30`.
    pub fn flags(&self) -> String {
        let since = self.since.map(|d| format!("--since {d}"));
        let until = self.until.map(|d| format!("--until {d}"));
        [since, until].into_iter().flatten().collect::<Vec<_>>().join(" ")
    }

    /// The span in words: `2026-11-01 to 2026-11-30`, `since 2026-11-01`.
    pub fn describe(&self) -> String {
        match (self.since, self.until) {
            (Some(since), Some(until)) => format!("{since} to {until}"),
            (Some(since), None) => format!("since {since}"),
            (None, Some(until)) => format!("until {until}"),
            (None, None) => "in total".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_of_whole_days() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let days = Days {
            since: Some(d("2026-11-01")),
            until: Some(d("2026-11-30")),
        };
        assert!(days.contains(d("2026-11-01")) && days.contains(d("2026-11-30")));
        assert!(!days.contains(d("2026-10-31")) && !days.contains(d("2026-12-01")));
        assert_eq!(days.flags(), "--since 2026-11-01 --until 2026-11-30");
        assert_eq!(days.describe(), "2026-11-01 to 2026-11-30");
        let backwards = Days {
            since: days.until,
            until: days.since,
        };
        assert!(backwards.checked().is_err());
    }
}
