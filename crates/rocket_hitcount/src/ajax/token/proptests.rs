//! Property tests of page tokens: `check` never panics on what a client
//! sends, and a token issued for `(pk, expires)` passes only for that pk,
//! until it expires, and not once any one of its characters is changed.

use proptest::prelude::*;

use super::*;

/// Secret keys, as bytes (`Secret` has no `Debug` to show a failing case).
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64)
}

/// Object keys and times: small ones, the edges of i64, and anything.
fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 0i64..10_000,
        2 => 1_700_000_000i64..1_900_000_000,
        1 => prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX]),
        2 => any::<i64>(),
    ]
}

/// Text that looks like a token: numbers, dots, signs, base64.
fn token_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => any::<i64>().prop_map(|n| n.to_string()),
        1 => "[0-9]{19,25}",
        4 => Just(".".to_owned()),
        3 => "[A-Za-z0-9_-]{0,24}",
        1 => prop::sample::select(vec!["+", "-", "=", "/", " ", "é", "0", "..", ""]).prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

/// Characters to put in place of one of a token's.
fn replacement() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(
            "0123456789.-+=/ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_".chars().collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn check_never_panics_and_refuses_made_up_tokens(
        key in key(),
        token in prop_oneof![any::<String>(), token_soup()],
        pk in number(),
        now in number(),
    ) {
        let secret = Secret::new(&key);
        // A signature is 128 bits: a made-up token never passes.
        let checked = check(&secret, &token, pk, now);
        prop_assert!(checked.is_err(), "{:?} passed", token);
    }

    #[test]
    fn an_issued_token_passes_for_its_pk_until_it_expires(
        key in key(),
        pk in number(),
        other in number(),
        expires in number(),
        before in prop_oneof![0u64..100_000, any::<u64>()],
        after in prop_oneof![1u64..100_000, 1u64..=u64::MAX],
    ) {
        let secret = Secret::new(&key);
        let token = issue(&secret, pk, expires);
        // Any time up to the expiry, inclusive.
        let now = expires.saturating_sub_unsigned(before);
        prop_assert_eq!(check(&secret, &token, pk, now), Ok(()), "{} at {}", token, now);
        prop_assert_eq!(check(&secret, &token, pk, expires), Ok(()));
        if let Some(later) = expires.checked_add_unsigned(after) {
            prop_assert_eq!(check(&secret, &token, pk, later), Err(TokenError::Expired), "{} at {}", token, later);
        }
        if other != pk {
            prop_assert_eq!(check(&secret, &token, other, now), Err(TokenError::OtherObject));
        }
    }

    #[test]
    fn a_token_with_one_character_replaced_fails(
        key in key(),
        pk in number(),
        expires in number(),
        at in any::<prop::sample::Index>(),
        with in replacement(),
    ) {
        let secret = Secret::new(&key);
        let token = issue(&secret, pk, expires);
        let mut chars: Vec<char> = token.chars().collect();
        let i = at.index(chars.len());
        prop_assume!(chars[i] != with);
        chars[i] = with;
        let changed: String = chars.into_iter().collect();
        // `now` before the expiry and the right pk: only the change can fail it.
        prop_assert!(check(&secret, &changed, pk, i64::MIN).is_err(), "{:?} (from {:?}) passed", changed, token);
    }

    // Inserting or removing one character, a sign or a zero in front of a
    // number included: the signature covers the numbers as written.
    #[test]
    fn a_token_with_one_character_inserted_or_removed_fails(
        key in key(),
        pk in number(),
        expires in number(),
        at in any::<prop::sample::Index>(),
        with in prop_oneof![1 => prop::sample::select(vec!['+', '-', '0', '.']), 3 => replacement()],
        insert in any::<bool>(),
        at_edge in any::<bool>(),
    ) {
        let secret = Secret::new(&key);
        let token = issue(&secret, pk, expires);
        let mut chars: Vec<char> = token.chars().collect();
        // Half the time at the edge of a field, where a sign or a zero
        // would still spell the same number.
        let edges: Vec<usize> = std::iter::once(0)
            .chain(chars.iter().enumerate().filter(|(_, c)| **c == '.').flat_map(|(i, _)| [i, i + 1]))
            .chain(std::iter::once(chars.len()))
            .collect();
        if insert {
            let i = if at_edge { edges[at.index(edges.len())] } else { at.index(chars.len() + 1) };
            chars.insert(i, with);
        } else {
            let i = at.index(chars.len());
            chars.remove(i);
        }
        let changed: String = chars.into_iter().collect();
        prop_assert!(check(&secret, &changed, pk, i64::MIN).is_err(), "{:?} (from {:?}) passed", changed, token);
    }

    #[test]
    fn a_token_of_another_secret_is_forged(
        first in key(),
        second in key(),
        pk in number(),
        expires in number(),
    ) {
        let (first, second) = (Secret::new(&first), Secret::new(&second));
        let token = issue(&first, pk, expires);
        let mine = issue(&second, pk, expires);
        prop_assume!(token != mine, "the same key twice");
        prop_assert_eq!(check(&second, &token, pk, i64::MIN), Err(TokenError::Forged));
    }
}
