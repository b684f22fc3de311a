//! Property tests of the window grammar: `Window::parse`,
//! `Window::parse_duration` and the serde forms never panic, every error
//! names the input and a part of it, valid windows add up, and what
//! `Display` writes parses back.

use proptest::prelude::*;

use super::*;

/// Pieces of the grammar and of the mistakes people make with it: parts
/// that are mostly `key=number` with wrong keys, signs, leading zeros and
/// huge numbers mixed in, glued by commas (or not), with or without
/// balanced quotes and stray characters. Far more likely than arbitrary
/// text to reach the deeper branches (repeated keys, overflow, negative
/// numbers, quotes) and to parse.
fn grammar_soup() -> impl Strategy<Value = String> {
    let stray = prop_oneof![
        prop::sample::select(vec![
            "=", ",", "\"", " ", "\t", "-", "+", ".", "\u{a0}", "é", "\u{3000}"
        ])
        .prop_map(str::to_owned),
        "\\PC{0,3}",
    ];
    let key = prop_oneof![
        8 => prop::sample::select(vec!["weeks", "days", "hours", "minutes", "seconds"]),
        1 => prop::sample::select(vec!["day", "DAYS", "microseconds", "", "days ", "=days"]),
    ]
    .prop_map(str::to_owned);
    let number = prop_oneof![
        8 => "[0-9]{1,6}",
        1 => "-[0-9]{0,3}",
        1 => "0{1,30}[0-9]{0,3}",
        1 => "[0-9]{19,40}",
        1 => Just(String::new()),
        1 => Just(u64::MAX.to_string()),
        1 => Just((u64::MAX as u128 + 1).to_string()),
        1 => Just(MAX_SECONDS.to_string()),
        1 => Just((MAX_SECONDS + 1).to_string()),
    ];
    let part = prop_oneof![
        12 => (key, number).prop_map(|(k, n)| format!("{k}={n}")),
        1 => prop::collection::vec(stray.clone(), 0..4).prop_map(|p| p.concat()),
    ];
    let separator = prop_oneof![
        12 => Just(",".to_owned()),
        1 => stray.clone(),
    ];
    let quotes = prop_oneof![
        6 => Just(("", "")),
        3 => Just(("\"", "\"")),
        1 => Just(("\"", "")),
        1 => Just(("", "\"")),
    ];
    (
        prop::collection::vec((part, separator), 0..5),
        quotes,
        prop::option::weighted(0.1, stray),
    )
        .prop_map(|(parts, (open, close), extra)| {
            let mut text = open.to_owned();
            for (i, (part, separator)) in parts.iter().enumerate() {
                if i > 0 {
                    text.push_str(separator);
                }
                text.push_str(part);
            }
            text.push_str(close);
            if let Some(extra) = extra {
                text.push_str(&extra);
            }
            text
        })
}

/// Anything at all, or grammar soup.
fn window_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), grammar_soup()]
}

/// What every answer of `Window::parse(input)` must satisfy.
fn check_parse_answer(input: &str, answer: &Result<Window, WindowError>) -> Result<(), TestCaseError> {
    match answer {
        Ok(window) => {
            prop_assert!(window.as_secs() <= MAX_SECONDS, "{input:?} gave {window:?}");
            prop_assert!(input.contains('='), "{input:?} parsed without a key=number part");
            let again = Window::parse(&window.to_string());
            prop_assert_eq!(again, Ok(*window), "Display of {:?} (from {:?})", window, input);
        }
        Err(error) => {
            prop_assert_eq!(error.input(), input);
            prop_assert!(
                input.contains(error.token()),
                "token {:?} is not part of {:?}",
                error.token(),
                input
            );
            let token = error.token();
            match error.kind() {
                WindowErrorKind::EmptyPart => prop_assert_eq!(token, ""),
                WindowErrorKind::Whitespace => {
                    prop_assert!(token.chars().any(char::is_whitespace), "{token:?}")
                }
                WindowErrorKind::Empty | WindowErrorKind::UnbalancedQuote => {
                    prop_assert_eq!(token, input)
                }
                WindowErrorKind::MissingEquals => {
                    prop_assert!(!token.is_empty() && !token.contains('=') && !token.contains(','))
                }
                WindowErrorKind::UnknownKey
                | WindowErrorKind::NotANumber
                | WindowErrorKind::Negative
                | WindowErrorKind::RepeatedKey
                | WindowErrorKind::TooLong => {
                    prop_assert!(token.contains('=') && !token.contains(','), "{token:?}")
                }
                WindowErrorKind::NotADuration => {
                    prop_assert!(false, "parse never answers NotADuration ({input:?})")
                }
            }
            // The message names the input.
            prop_assert!(error.to_string().contains(&format!("{:?}", input)), "{}", error);
        }
    }
    Ok(())
}

/// A valid window in the grammar: distinct keys in any order, numbers
/// with optional leading zeros, optionally quoted; and the seconds it
/// means, or the part that first takes the total over 100 years.
#[derive(Debug, Clone)]
struct ValidWindow {
    text: String,
    /// `Ok(seconds)`, or `Err(part)`: the part at which the running total
    /// first passes `MAX_SECONDS`.
    expected: Result<u64, String>,
}

fn valid_window() -> impl Strategy<Value = ValidWindow> {
    let keys = prop::sample::subsequence(vec![0usize, 1, 2, 3, 4], 1..=5).prop_shuffle();
    keys.prop_flat_map(|keys| {
        let numbers: Vec<_> = keys
            .iter()
            .map(|&i| {
                let unit = UNITS[i].1;
                prop_oneof![
                    // Mostly inside the limit, spread so that totals near
                    // it occur too.
                    6 => 0..=MAX_SECONDS / unit / 3,
                    2 => 0..=MAX_SECONDS / unit + 1,
                    1 => any::<u64>(),
                ]
            })
            .collect();
        let zeros = prop::collection::vec(0usize..3, keys.len());
        (Just(keys), numbers, zeros, any::<bool>())
    })
    .prop_map(|(keys, numbers, zeros, quoted)| {
        let mut total: u128 = 0;
        let mut expected = None;
        let mut parts = Vec::new();
        for ((&i, &n), &z) in keys.iter().zip(&numbers).zip(&zeros) {
            let part = format!("{}={}{}", UNITS[i].0, "0".repeat(z), n);
            total += u128::from(n) * u128::from(UNITS[i].1);
            if expected.is_none() && total > u128::from(MAX_SECONDS) {
                expected = Some(Err(part.clone()));
            }
            parts.push(part);
        }
        let body = parts.join(",");
        ValidWindow {
            text: if quoted { format!("\"{body}\"") } else { body },
            expected: expected.unwrap_or(Ok(total as u64)),
        }
    })
}

/// Humantime's grammar (`"1h 30m"`, `"7 days"`) with its mistakes:
/// numbers and units, huge numbers, signs, fractions and stray characters.
fn duration_soup() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        6 => "[0-9]{1,4}",
        1 => "[0-9]{15,30}",
        1 => Just(u64::MAX.to_string()),
        1 => "-[0-9]{1,3}",
        1 => "[0-9]{1,3}\\.[0-9]{1,3}",
    ];
    let unit = prop::sample::select(vec![
        "ns", "us", "ms", "s", "sec", "secs", "second", "seconds", "m", "min", "mins", "minute", "minutes",
        "h", "hr", "hrs", "hour", "hours", "d", "day", "days", "w", "week", "weeks", "M", "month", "months",
        "y", "year", "years", "nsec", "usec", "msec", "dayz", "",
    ]);
    let space = prop::sample::select(vec!["", "", " ", "  ", "\t"]);
    let stray = prop::option::weighted(0.1, "\\PC{0,2}");
    prop::collection::vec((number, space, unit, stray), 0..5).prop_map(|parts| {
        let written: Vec<String> = parts
            .into_iter()
            .map(|(n, space, unit, stray)| format!("{n}{space}{unit}{}", stray.unwrap_or_default()))
            .collect();
        written.join(" ")
    })
}

/// JSON text that serde_json hands to `Window`'s deserializer: strings,
/// numbers of every kind, maps with known, unknown and repeated keys and
/// values of every type, and other JSON values.
fn window_json() -> impl Strategy<Value = String> {
    let json_value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0i64..1_000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| serde_json::to_string(&f).unwrap()),
        Just("1e400".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        window_text().prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    let key = prop_oneof![
        3 => prop::sample::select(vec!["weeks", "days", "hours", "minutes", "seconds"])
            .prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let map = prop::collection::vec((key, json_value.clone()), 0..7).prop_map(|entries| {
        let body: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
            .collect();
        format!("{{{}}}", body.join(","))
    });
    prop_oneof![
        2 => window_text().prop_map(|s| serde_json::to_string(&s).unwrap()),
        2 => duration_soup().prop_map(|s| serde_json::to_string(&s).unwrap()),
        3 => map,
        2 => json_value,
        1 => prop::collection::vec(any::<u32>(), 0..3).prop_map(|v| serde_json::to_string(&v).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_and_errors_name_a_part_of_the_input(input in window_text()) {
        let answer = Window::parse(&input);
        check_parse_answer(&input, &answer)?;
        // `FromStr` is the same parser.
        prop_assert_eq!(input.parse::<Window>(), answer);
    }

    #[test]
    fn valid_windows_add_up_and_round_trip(valid in valid_window()) {
        let answer = Window::parse(&valid.text);
        check_parse_answer(&valid.text, &answer)?;
        match (&valid.expected, &answer) {
            (Ok(secs), Ok(window)) => {
                prop_assert_eq!(window.as_secs(), *secs);
                prop_assert_eq!(Window::parse(&window.to_string()), Ok(*window));
                // The settings' parser takes the grammar as it is.
                prop_assert_eq!(Window::parse_duration(&valid.text), Ok(*window));
            }
            (Err(part), Err(error)) => {
                prop_assert_eq!(error.kind(), WindowErrorKind::TooLong);
                prop_assert_eq!(error.token(), part.as_str());
            }
            (expected, got) => prop_assert!(false, "{:?}: expected {:?}, got {:?}", valid.text, expected, got),
        }
    }

    #[test]
    fn every_length_displays_in_a_form_that_parses_back(secs in prop_oneof![0..=MAX_SECONDS, any::<u64>()]) {
        let window = Window::seconds(secs);
        prop_assert_eq!(window.as_secs(), secs.min(MAX_SECONDS));
        let text = window.to_string();
        prop_assert_eq!(Window::parse(&text), Ok(window), "{}", text);
        prop_assert_eq!(Window::parse_duration(&text), Ok(window), "{}", text);
        prop_assert_eq!(Window::parse(&format!("\"{text}\"")), Ok(window));
    }

    #[test]
    fn parse_duration_never_panics(input in prop_oneof![window_text(), duration_soup()]) {
        match Window::parse_duration(&input) {
            Ok(window) => prop_assert!(window.as_secs() <= MAX_SECONDS, "{input:?} gave {window:?}"),
            Err(error) => {
                prop_assert_eq!(error.input(), input.as_str());
                prop_assert!(input.contains(error.token()), "{:?} not in {:?}", error.token(), input);
                prop_assert!(error.to_string().contains(&format!("{:?}", input)), "{}", error);
            }
        }
    }

    #[test]
    fn deserializing_never_panics(json in window_json()) {
        if let Ok(window) = serde_json::from_str::<Window>(&json) {
            prop_assert!(window.as_secs() <= MAX_SECONDS, "{json} gave {window:?}");
            // What serializes deserializes back.
            let written = serde_json::to_string(&window).unwrap();
            prop_assert_eq!(serde_json::from_str::<Window>(&written).ok(), Some(window), "{}", written);
        }
    }

    #[test]
    fn deserialized_maps_add_up(
        parts in prop::sample::subsequence(vec![0usize, 1, 2, 3, 4], 0..=5)
            .prop_flat_map(|keys| {
                let n = keys.len();
                (Just(keys), prop::collection::vec(0i64..=1_000, n))
            })
    ) {
        let (keys, numbers) = parts;
        let body: Vec<String> = keys.iter().zip(&numbers).map(|(&i, n)| format!("{:?}:{n}", UNITS[i].0)).collect();
        let json = format!("{{{}}}", body.join(","));
        let expected: u64 = keys.iter().zip(&numbers).map(|(&i, &n)| n as u64 * UNITS[i].1).sum();
        let window = serde_json::from_str::<Window>(&json);
        prop_assert_eq!(window.ok(), Some(Window(expected)), "{}", json);
    }
}
