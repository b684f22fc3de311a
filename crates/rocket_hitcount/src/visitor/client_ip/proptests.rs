//! Property tests of the forwarding-header parser: it never panics on
//! what clients and proxies send, it answers the peer or an address of the
//! header, it ignores the header unless the peer is a trusted proxy, and
//! it follows the documented walk from the right.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

/// Networks used as trusted proxies: private ranges the generated
/// addresses often fall in, catch-alls, and arbitrary networks.
fn trusted_nets() -> impl Strategy<Value = Vec<IpNet>> {
    let known = prop::sample::select(vec![
        "10.0.0.0/8",
        "2001:db8:ffff::/48",
        "192.0.2.0/24",
        "0.0.0.0/0",
        "::/0",
        "::ffff:0:0/96",
        "127.0.0.1/32",
    ])
    .prop_map(|net| net.parse::<IpNet>().unwrap());
    let arbitrary = (any::<IpAddr>(), any::<u8>()).prop_map(|(ip, prefix)| {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        IpNet::new(ip, prefix % (max + 1)).unwrap()
    });
    prop::collection::vec(prop_oneof![3 => known, 1 => arbitrary], 0..4)
}

/// Addresses that are often inside the trusted networks above, written
/// as IPv4, IPv6 or IPv4-mapped IPv6.
fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        3 => any::<[u8; 3]>().prop_map(|[a, b, c]| IpAddr::V4(Ipv4Addr::new(10, a, b, c))),
        1 => any::<u8>().prop_map(|d| IpAddr::V4(Ipv4Addr::new(192, 0, 2, d))),
        1 => any::<u16>().prop_map(|g| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, g))),
        1 => any::<u16>().prop_map(|g| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, g))),
        1 => any::<[u8; 4]>().prop_map(|o| IpAddr::V6(Ipv4Addr::from(o).to_ipv6_mapped())),
        1 => Just(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        2 => any::<IpAddr>(),
    ]
}

/// The canonical form, written independently of the code under test.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.segments() {
            [0, 0, 0, 0, 0, 0xffff, hi, lo] => {
                IpAddr::V4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
            }
            _ => ip,
        },
        v4 => v4,
    }
}

/// One entry of a forwarding header, and the address it stands for (None
/// for an entry that is not an address, which stops the walk).
fn hop() -> impl Strategy<Value = (String, Option<IpAddr>)> {
    let padding = prop::sample::select(vec!["", "", "", " ", "  ", "\t", " \t "]);
    let written = prop_oneof![
        // Plain addresses, as Rust writes them.
        6 => address().prop_map(|ip| (ip.to_string(), Some(unmapped(ip)))),
        // IPv6 in capitals, and IPv4-mapped in dotted form.
        1 => address().prop_map(|ip| (ip.to_string().to_uppercase(), Some(unmapped(ip)))),
        1 => any::<[u8; 4]>().prop_map(|o| {
            let v4 = Ipv4Addr::from(o);
            (format!("::ffff:{v4}"), Some(IpAddr::V4(v4)))
        }),
        // With a port, and bracketed IPv6 with and without one.
        2 => (address(), any::<u16>()).prop_map(|(ip, port)| {
            (SocketAddr::new(ip, port).to_string(), Some(unmapped(ip)))
        }),
        1 => any::<Ipv6Addr>().prop_map(|v6| (format!("[{v6}]"), Some(unmapped(IpAddr::V6(v6))))),
        // Not addresses: names, empty entries, overlong ports and octets,
        // bracketed IPv4, zones, unbalanced brackets, CIDRs.
        1 => "[g-zG-Z_!?*/;=\"]{1,10}".prop_map(|garbage| (garbage, None)),
        1 => Just((String::new(), None)),
        1 => prop::sample::select(vec![
            "unknown", "_hidden", "1.2.3.4567", "1.2.3", "1.2.3.4:99999", "1.2.3.4:",
            "[2001:db8::1", "2001:db8::1]", "[2001:db8::1]:", "[2001:db8::1]:99999", "fe80::1%eth0",
            "10.0.0.0/8", "1.2.3.4 5.6.7.8", "::ffff:1.2.3.4:80", "[[::1]]", "[]",
        ])
        .prop_map(|text| (text.to_owned(), None)),
        // Unicode spaces are trimmed too, and brackets are allowed around
        // IPv4 as well.
        1 => prop::sample::select(vec!["\u{a0}192.0.2.1\u{3000}", "[192.0.2.1]", "[::ffff:192.0.2.1]"])
            .prop_map(|text| (text.to_owned(), Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))))),
    ];
    (padding.clone(), written, padding)
        .prop_map(|(before, (text, meaning), after)| (format!("{before}{text}{after}"), meaning))
}

/// Forwarding header values (one per header line), each a comma-separated
/// list of hops, with what each hop means, in order.
fn header_values() -> impl Strategy<Value = (Vec<String>, Vec<Option<IpAddr>>)> {
    prop::collection::vec(prop::collection::vec(hop(), 1..5), 0..4).prop_map(|values| {
        let text = values
            .iter()
            .map(|hops| {
                hops.iter()
                    .map(|(text, _)| text.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        let meaning = values.into_iter().flatten().map(|(_, meaning)| meaning).collect();
        (text, meaning)
    })
}

/// The documented walk, written from the hops' known meanings.
fn expected_client(peer: Option<IpAddr>, hops: &[Option<IpAddr>], trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = unmapped(peer?);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut last_good = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(*ip) => last_good = *ip,
            Some(ip) => return Some(*ip),
            None => return Some(last_good),
        }
    }
    Some(last_good)
}

/// Arbitrary header text: anything, or address-like soup with commas,
/// spaces, brackets, colons and dots.
fn arbitrary_values() -> impl Strategy<Value = Vec<String>> {
    let soup = prop::collection::vec(
        prop_oneof![
            4 => "[0-9a-fA-F]{1,4}",
            2 => prop::sample::select(vec![".", ":", "::", ",", ", ", " ", "[", "]", "%", "/", "\t", "::ffff:", ""])
                .prop_map(str::to_owned),
            2 => address().prop_map(|ip| ip.to_string()),
            1 => "\\PC{0,3}",
        ],
        0..16,
    )
    .prop_map(|pieces| pieces.concat());
    prop::collection::vec(prop_oneof![any::<String>(), soup], 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_headers_give_the_peer_or_one_of_their_addresses(
        peer in prop::option::weighted(0.95, address()),
        values in arbitrary_values(),
        trusted in trusted_nets(),
    ) {
        let found = client_ip(peer, values.iter().map(String::as_str), &trusted);
        prop_assert_eq!(found.is_some(), peer.is_some());
        let Some(found) = found else { return Ok(()) };
        let peer = unmapped(peer.unwrap());
        let in_header = values
            .iter()
            .flat_map(|value| value.split(','))
            .filter_map(parse_hop)
            .any(|ip| ip == found);
        prop_assert!(found == peer || in_header, "{:?} from peer {:?} and {:?}", found, peer, values);
        // Never an IPv4-mapped address: one visitor is one IP.
        prop_assert_eq!(unmapped(found), found);
        let trusted_peer = trusted.iter().any(|net| net.contains(&peer));
        if !trusted_peer {
            prop_assert_eq!(found, peer, "the header of an untrusted peer counted");
        }
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client(
        peer in prop::option::of(address()),
        values in arbitrary_values(),
    ) {
        prop_assert_eq!(client_ip(peer, values.iter().map(String::as_str), &[]), peer.map(unmapped));
    }

    #[test]
    fn the_walk_from_the_right_is_as_documented(
        peer in address(),
        (values, hops) in header_values(),
        trusted in trusted_nets(),
    ) {
        let found = client_ip(Some(peer), values.iter().map(String::as_str), &trusted);
        let expected = expected_client(Some(peer), &hops, &trusted);
        prop_assert_eq!(found, expected, "peer {:?}, header {:?}, trusted {:?}", peer, values, trusted);
    }

    #[test]
    fn each_hop_parses_to_what_it_stands_for((text, meaning) in hop()) {
        prop_assert_eq!(parse_hop(text.trim()), meaning, "{:?}", text);
        prop_assert_eq!(parse_hop(&text), meaning, "{:?}", text);
    }
}
