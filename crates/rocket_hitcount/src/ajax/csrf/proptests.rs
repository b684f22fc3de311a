//! Property tests of the CSRF checks: the helpers that read and compare
//! tokens and headers never panic on what clients send, a token equals
//! itself and nothing else, and the origin check lets through exactly the
//! same-origin requests.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rocket::http::uri::Host;
use rocket::http::Header;
use rocket::local::blocking::Client;
use rocket::Response;

use super::*;

/// Cookie values near the rule: letters and digits, lengths around 16
/// and 64, and the characters that must be refused.
fn cookie_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-f]{32}",
        "[A-Za-z0-9]{14,18}",
        "[A-Za-z0-9]{62,66}",
        "[A-Za-z0-9 =;._é\\-]{10,70}",
        "[A-Za-z0-9]{0,40}\\PC[A-Za-z0-9]{0,40}",
    ]
}

/// A token and the same token with one character changed (to another
/// ASCII character, so the length stays the same).
fn token_and_other() -> impl Strategy<Value = (String, String)> {
    ("[A-Za-z0-9]{16,64}", any::<prop::sample::Index>(), 0x20u8..0x7f).prop_filter_map(
        "the same character",
        |(token, at, byte)| {
            let mut bytes = token.clone().into_bytes();
            let i = at.index(bytes.len());
            (bytes[i] != byte).then(|| {
                bytes[i] = byte;
                (token, String::from_utf8(bytes).unwrap())
            })
        },
    )
}

/// Hosts as a `Host` header or `:authority` writes them.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,2}",
        "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,2}:[1-9][0-9]{0,3}",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(:[1-9][0-9]{0,3})?",
        Just("[::1]:8000".to_owned()),
    ]
}

/// Header text from clients: anything, or URL-like soup.
fn header_text() -> impl Strategy<Value = String> {
    let soup = prop::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9.-]{0,8}",
            prop::sample::select(vec![
                "://", "/", ":", "[", "]", "@", "http", "https", "null", " ", "%", "?", "#"
            ])
            .prop_map(str::to_owned),
            "\\PC{0,2}",
        ],
        0..10,
    )
    .prop_map(|pieces| pieces.concat());
    prop_oneof![any::<String>(), soup]
}

fn with_case_flipped(text: &str, flips: &[bool]) -> String {
    text.chars()
        .zip(flips.iter().chain(std::iter::repeat(&false)))
        .map(|(c, &flip)| if flip { c.to_ascii_uppercase() } else { c })
        .collect()
}

/// The headers of one request for `check_origin`, and a host to set as
/// the request's own (as Rocket does from `Host` or `:authority`).
#[derive(Debug, Clone)]
struct OriginCase {
    origin: Option<String>,
    host_header: Option<String>,
    set_host: Option<String>,
    sec_fetch_site: Option<String>,
}

/// Runs `check_origin` on a local request with these headers.
fn check_origin_of(client: &Client, case: &OriginCase) -> Result<(), CsrfError> {
    let mut request = client.post("/hitcount");
    if let Some(origin) = &case.origin {
        request.add_header(Header::new("Origin", origin.clone()));
    }
    if let Some(host) = &case.host_header {
        request.add_header(Header::new("Host", host.clone()));
    }
    if let Some(site) = &case.sec_fetch_site {
        request.add_header(Header::new("Sec-Fetch-Site", site.clone()));
    }
    if let Some(host) = &case.set_host {
        let host = Host::parse_owned(host.clone()).expect("generated hosts parse");
        request.inner_mut().set_host(host);
    }
    check_origin(request.inner())
}

fn client() -> Client {
    Client::debug_with(vec![]).expect("an empty Rocket launches")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn plausible_accepts_exactly_16_to_64_letters_and_digits(value in cookie_value()) {
        let rule = (16..=64).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric());
        prop_assert_eq!(plausible(&value), rule.then(|| value.clone()));
    }

    #[test]
    fn same_is_string_equality(a in cookie_value(), b in cookie_value()) {
        prop_assert!(same(&a, &a));
        prop_assert_eq!(same(&a, &b), a == b);
        prop_assert_eq!(same(&b, &a), a == b);
    }

    #[test]
    fn a_token_differs_from_any_other_of_its_length((token, other) in token_and_other()) {
        prop_assert_eq!(token.len(), other.len());
        prop_assert!(!same(&token, &other), "{:?} = {:?}", token, other);
        prop_assert!(!same(&other, &token));
        prop_assert!(same(&token, &token.clone()));
        // And from its own prefixes and extensions.
        prop_assert!(!same(&token, &token[..token.len() - 1]));
        let longer = format!("{token}0");
        prop_assert!(!same(&token, &longer));
    }

    #[test]
    fn sets_cookie_finds_exactly_the_named_cookie(
        name in prop_oneof![Just("csrftoken".to_owned()), any::<String>(), "[a-z]{0,3}"],
        values in prop::collection::vec(
            prop_oneof![
                any::<String>(),
                "csrftoken[=;a-z0-9 ]{0,12}",
                "[a-z]{0,3}(=[a-z0-9]{0,5})?(; Path=/)?",
            ],
            0..4,
        ),
    ) {
        let mut response = Response::new();
        for value in &values {
            response.adjoin_raw_header("Set-Cookie", value.clone());
        }
        let expected = values.iter().any(|v| v.starts_with(&format!("{name}=")));
        prop_assert_eq!(sets_cookie(&response, &name), expected, "{:?} in {:?}", name, values);
    }
}

/// `check_origin` on arbitrary headers: it never panics, and it answers
/// as documented: with `Origin`, Ok exactly when its authority is the
/// request's host, else Ok exactly for a missing, `same-origin` or `none`
/// `Sec-Fetch-Site`.
#[test]
fn check_origin_never_panics_and_answers_as_documented() {
    let client = client();
    let case = (
        prop::option::weighted(0.8, header_text()),
        prop::option::weighted(0.8, prop_oneof![host(), header_text()]),
        prop::option::weighted(0.3, host()),
        prop::option::weighted(
            0.6,
            prop_oneof![
                prop::sample::select(vec![
                    "same-origin",
                    "none",
                    "same-site",
                    "cross-site",
                    "Same-Origin",
                    ""
                ])
                .prop_map(str::to_owned),
                header_text(),
            ],
        ),
    )
        .prop_map(|(origin, host_header, set_host, sec_fetch_site)| OriginCase {
            origin,
            host_header,
            set_host,
            sec_fetch_site,
        });
    let mut runner = TestRunner::new(Config::with_cases(512));
    runner
        .run(&case, |case| {
            let answer = check_origin_of(&client, &case);
            let host = match (&case.set_host, &case.host_header) {
                (Some(set), _) => Host::parse(set).unwrap().to_string(),
                (None, Some(header)) => header.clone(),
                (None, None) => String::new(),
            };
            match &case.origin {
                Some(origin) => {
                    let authority = origin
                        .split_once("://")
                        .map(|(_, rest)| rest.trim_end_matches('/'));
                    let same_site =
                        !host.is_empty() && authority.is_some_and(|a| a.eq_ignore_ascii_case(&host));
                    if same_site {
                        prop_assert_eq!(answer, Ok(()));
                    } else {
                        prop_assert_eq!(
                            answer,
                            Err(CsrfError::CrossOrigin {
                                origin: origin.clone(),
                                host
                            })
                        );
                    }
                }
                None => match case.sec_fetch_site.as_deref() {
                    None | Some("same-origin") | Some("none") => prop_assert_eq!(answer, Ok(())),
                    Some(site) => prop_assert_eq!(
                        answer,
                        Err(CsrfError::CrossSite {
                            sec_fetch_site: site.to_owned()
                        })
                    ),
                },
            }
            Ok(())
        })
        .unwrap();
}

/// A page's own script posts with `Origin: <scheme>://<host>`, in any
/// case, with or without a trailing slash: always let through, whatever
/// `Sec-Fetch-Site` says; another host never is.
#[test]
fn same_origin_passes_and_other_origins_do_not() {
    let client = client();
    let case = (
        host(),
        host(),
        prop::sample::select(vec!["http", "https", "HTTPS"]),
        prop::collection::vec(any::<bool>(), 0..40),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["same-origin", "cross-site", "none"])),
    );
    let mut runner = TestRunner::new(Config::with_cases(512));
    runner
        .run(
            &case,
            |(host, other, scheme, flips, slash, as_authority, site)| {
                let slash = if slash { "/" } else { "" };
                let (host_header, set_host) = if as_authority {
                    (None, Some(host.clone()))
                } else {
                    (Some(host.clone()), None)
                };
                let same_origin = OriginCase {
                    origin: Some(format!("{scheme}://{}{slash}", with_case_flipped(&host, &flips))),
                    host_header,
                    set_host,
                    sec_fetch_site: site.map(str::to_owned),
                };
                prop_assert_eq!(
                    check_origin_of(&client, &same_origin),
                    Ok(()),
                    "{:?}",
                    same_origin
                );
                if !other.eq_ignore_ascii_case(&host) {
                    let cross = OriginCase {
                        origin: Some(format!("{scheme}://{other}{slash}")),
                        ..same_origin
                    };
                    let answer = check_origin_of(&client, &cross);
                    prop_assert!(
                        matches!(answer, Err(CsrfError::CrossOrigin { .. })),
                        "{:?} gave {:?}",
                        cross,
                        answer
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}
