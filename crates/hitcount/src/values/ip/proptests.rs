//! Property tests of `parse_ip`: it never panics on untrusted text, and
//! whatever it accepts writes back in a form it accepts again.

use proptest::prelude::*;

use super::*;

/// Text that looks like addresses more often than arbitrary text does:
/// digits, hex, dots, colons, brackets, zones, prefixes and ports.
fn address_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[0-9]{1,4}",
        3 => "[0-9a-fA-F]{1,5}",
        4 => Just(".".to_owned()),
        4 => Just(":".to_owned()),
        1 => Just("::".to_owned()),
        1 => Just("::ffff:".to_owned()),
        1 => prop::sample::select(vec!["[", "]", "%", "%eth0", "/", "/24", " ", "-", "+", "x", "é", "\0"])
            .prop_map(str::to_owned),
        1 => "[0-9]{5,25}",
    ];
    prop::collection::vec(piece, 0..14).prop_map(|pieces| pieces.concat())
}

/// An address written by hand: as Rust writes it, in upper case, with
/// leading zeros in IPv6 groups, or as an IPv4-mapped IPv6 address.
fn written_address() -> impl Strategy<Value = (IpAddr, String)> {
    prop_oneof![
        any::<IpAddr>().prop_map(|ip| (ip, ip.to_string())),
        any::<std::net::Ipv6Addr>().prop_map(|ip| (IpAddr::V6(ip), ip.to_string().to_uppercase())),
        any::<std::net::Ipv6Addr>().prop_map(|ip| {
            let groups: Vec<String> = ip.segments().iter().map(|g| format!("{g:04x}")).collect();
            (IpAddr::V6(ip), groups.join(":"))
        }),
        any::<std::net::Ipv4Addr>().prop_map(|v4| {
            let mapped = v4.to_ipv6_mapped();
            (IpAddr::V6(mapped), format!("::ffff:{v4}"))
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_ip_never_panics_and_what_parses_round_trips(text in prop_oneof![any::<String>(), address_soup()]) {
        match parse_ip(&text) {
            Ok(ip) => {
                prop_assert_eq!(canonical(ip), ip, "parse_ip gives canonical addresses");
                prop_assert_eq!(parse_ip(&ip.to_string()).ok(), Some(ip), "{}", text);
                prop_assert_eq!(text.parse::<IpAddr>().ok().map(canonical), Some(ip));
            }
            Err(error) => {
                let message = error.to_string();
                prop_assert!(message.contains(&format!("{text:?}")), "{}", message);
                prop_assert!(text.parse::<IpAddr>().is_err(), "{:?} is an address", text);
            }
        }
    }

    #[test]
    fn every_written_address_parses_to_its_canonical_form((ip, text) in written_address()) {
        let parsed = parse_ip(&text).ok();
        prop_assert_eq!(parsed, Some(canonical(ip)), "{}", text);
        let parsed = parsed.unwrap();
        prop_assert_eq!(parse_ip(&parsed.to_string()).ok(), Some(parsed));
        // Mapped addresses are their IPv4 address, so one visitor is one IP.
        if let IpAddr::V6(v6) = ip {
            prop_assert_eq!(parsed.is_ipv4(), v6.to_ipv4_mapped().is_some());
        }
    }
}
