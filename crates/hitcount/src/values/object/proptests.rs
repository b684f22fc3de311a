//! Property tests of `ObjectRef`: `new` and `FromStr` never panic, accept
//! exactly what the documented rules allow, and what `Display` writes
//! (`kind:id`) parses back to the same object.

use proptest::prelude::*;

use super::*;

/// The documented rules, written independently of `ObjectRef::new`.
fn allowed(kind: &str, id: &str) -> bool {
    let kind_len = kind.chars().count();
    let id_len = id.chars().count();
    (1..=MAX_KIND_LEN).contains(&kind_len)
        && !kind
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
        && (1..=MAX_ID_LEN).contains(&id_len)
        && !id.chars().any(char::is_control)
}

/// Kinds and ids near the rules' edges: the characters they forbid,
/// Unicode whitespace and controls, and lengths around the limits.
fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        8 => prop::sample::select(vec!['a', 'z', '.', '_', '-', '0', '9', 'é', '字', '🦀']),
        1 => prop::sample::select(vec![':', ' ', '\t', '\n', '\0', '\u{7f}', '\u{85}', '\u{a0}', '\u{2003}', '\u{200b}', '\u{feff}']),
        1 => any::<char>(),
    ];
    prop_oneof![
        prop::collection::vec(chars.clone(), 0..8),
        prop::collection::vec(chars, max - 2..=max + 2),
    ]
    .prop_map(|chars| chars.into_iter().collect())
}

fn kind() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), tricky_text(MAX_KIND_LEN)]
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        tricky_text(MAX_ID_LEN),
        any::<i64>().prop_map(|n| n.to_string())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn new_accepts_exactly_the_documented_values(kind in kind(), id in id()) {
        let made = ObjectRef::new(kind.clone(), &id);
        prop_assert_eq!(made.is_ok(), allowed(&kind, &id), "kind {:?}, id {:?}: {:?}", kind, id, made);
        if let Ok(object) = made {
            prop_assert_eq!(object.kind(), kind.as_str());
            prop_assert_eq!(object.id(), id.as_str());
            // Display writes `kind:id`, which parses back: the kind holds no ':'.
            let text = object.to_string();
            prop_assert_eq!(&text, &format!("{kind}:{id}"));
            let back = text.parse::<ObjectRef>();
            prop_assert!(matches!(&back, Ok(o) if *o == object), "{:?} gave {:?}", text, back);
            // The serde form checks and round-trips as well.
            let json = serde_json::to_string(&object).unwrap();
            let back = serde_json::from_str::<ObjectRef>(&json);
            prop_assert!(matches!(&back, Ok(o) if *o == object), "{} gave {:?}", json, back);
        }
    }

    #[test]
    fn from_str_never_panics_and_writes_back_what_it_read(
        key in prop_oneof![
            any::<String>(),
            (kind(), prop::sample::select(vec![":", "::", ""]), id()).prop_map(|(k, sep, i)| format!("{k}{sep}{i}")),
        ]
    ) {
        match key.parse::<ObjectRef>() {
            Ok(object) => {
                prop_assert_eq!(object.to_string(), key.clone());
                let (kind, id) = key.split_once(':').unwrap();
                prop_assert_eq!((object.kind(), object.id()), (kind, id));
            }
            Err(error) => {
                // Either no ':' at all, or the halves break a rule.
                let refused = match key.split_once(':') {
                    None => true,
                    Some((kind, id)) => !allowed(kind, id),
                };
                prop_assert!(refused, "{:?} refused: {}", key, error);
            }
        }
    }

    #[test]
    fn deserializing_never_panics(kind in kind(), id in id(), extra in any::<bool>()) {
        let json = if extra {
            format!(r#"{{"kind":{},"id":{},"x":1}}"#, serde_json::to_string(&kind).unwrap(), serde_json::to_string(&id).unwrap())
        } else {
            serde_json::to_string(&serde_json::json!({"kind": kind, "id": id})).unwrap()
        };
        let read = serde_json::from_str::<ObjectRef>(&json);
        prop_assert_eq!(read.is_ok(), allowed(&kind, &id), "{} gave {:?}", json, read);
    }
}
