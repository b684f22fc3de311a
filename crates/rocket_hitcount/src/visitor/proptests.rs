//! Property tests of the visitor cookie's payload: `decode` never panics
//! on what a client sends, whatever it accepts is a session the visitor
//! guard can use, and `decode(encode(s)) == s`.

use proptest::prelude::*;

use super::*;

/// A session key as the crate makes them (hex), from 1 character to the
/// longest accepted, in either case.
fn key() -> impl Strategy<Value = String> {
    let max = hitcount::MAX_SESSION_KEY_LEN;
    let regex = |pattern: String| proptest::string::string_regex(&pattern).expect("a valid pattern");
    prop_oneof![
        regex(format!("[0-9a-f]{{1,{max}}}")),
        regex(format!("[0-9a-fA-F]{{1,{max}}}")),
        regex(format!("[0-9a-f]{{{max}}}")),
    ]
}

/// A session the crate could have written into the cookie.
fn session() -> impl Strategy<Value = CookieSession> {
    let visit = (
        prop_oneof![3 => 1i64..100_000, 1 => any::<i64>()],
        prop_oneof![3 => 1u32..1_000, 1 => any::<u32>()],
    );
    let time = || prop_oneof![3 => 1_700_000_000i64..1_900_000_000, 1 => 0..=i64::MAX];
    let site = (prop_oneof![3 => 1u32..1_000, 1 => any::<u32>()], time())
        .prop_map(|(count, last)| SiteVisits { count, last });
    (
        key(),
        prop::option::of(key()),
        prop::collection::vec(visit, 0..=MAX_VISITS),
        time(),
        prop::option::of(site),
    )
        .prop_map(|(key, previous, visits, issued, site)| CookieSession {
            key,
            previous,
            visits,
            issued,
            site,
        })
}

/// Text that looks like a payload: its separators, hex, numbers of every
/// size and sign, and stray characters.
fn payload_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[0-9a-fA-F]{1,8}",
        1 => "[0-9a-f]{60,70}",
        3 => prop::sample::select(vec!["~", "_", ":", "-", "+", ".", ",", " ", "", "~~", "0"])
            .prop_map(str::to_owned),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => "[0-9]{19,25}",
        1 => "\\PC{0,3}",
    ];
    prop::collection::vec(piece, 0..20).prop_map(|pieces| pieces.concat())
}

/// A valid payload with one character changed, inserted or removed.
fn mangled_payload() -> impl Strategy<Value = String> {
    let change = prop::sample::select(vec!['~', '_', ':', '-', '+', '0', '9', 'a', 'g', ' ', 'é', '\0']);
    (session(), any::<prop::sample::Index>(), change, 0..3u8).prop_map(|(session, at, change, how)| {
        let mut chars: Vec<char> = encode(&session).chars().collect();
        let i = at.index(chars.len());
        match how {
            0 => chars[i] = change,
            1 => chars.insert(i, change),
            _ => {
                chars.remove(i);
            }
        }
        chars.into_iter().collect()
    })
}

/// What every decoded cookie must be: a session the guard turns into
/// a core `Visitor` without panicking (it `expect`s these), and one
/// that writes back to the same session.
fn check_decoded(value: &str, session: &CookieSession) -> Result<(), TestCaseError> {
    prop_assert!(is_key(&session.key), "{:?}", value);
    let visitor = hitcount::Visitor::new(session.key.clone());
    prop_assert!(visitor.is_ok(), "{:?}: key refused: {:?}", value, visitor);
    if let Some(previous) = &session.previous {
        prop_assert!(is_key(previous), "{:?}", value);
        let with = visitor.unwrap().with_previous_session_key(previous.clone());
        prop_assert!(with.is_ok(), "{:?}: previous key refused: {:?}", value, with);
    }
    prop_assert!(session.issued >= 0, "{:?}", value);
    prop_assert!(session.site.is_none_or(|site| site.last >= 0), "{:?}", value);
    let written = encode(session);
    let again = decode(&written);
    prop_assert_eq!(again.as_ref(), Some(session), "{:?} wrote {:?}", value, written);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_never_panics_and_accepts_only_usable_sessions(
        value in prop_oneof![any::<String>(), payload_soup(), mangled_payload()]
    ) {
        if let Some(session) = decode(&value) {
            check_decoded(&value, &session)?;
        }
    }

    #[test]
    fn sessions_round_trip_through_the_cookie(session in session()) {
        let value = encode(&session);
        prop_assert_eq!(decode(&value), Some(session.clone()), "{}", value);
        // Nothing a cookie value must not hold (RFC 6265 cookie-octets).
        prop_assert!(
            value.bytes().all(|b| b == 0x21 || (0x23..=0x2b).contains(&b) || (0x2d..=0x3a).contains(&b)
                || (0x3c..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)),
            "{:?}", value
        );
        check_decoded(&value, &session)?;
    }
}
