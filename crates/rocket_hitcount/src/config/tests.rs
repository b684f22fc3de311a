//! The settings read, refused and documented.

use super::*;
use rocket::figment::providers::{Format, Serialized, Toml};

fn read(toml: &str) -> Result<Config, ConfigError> {
    Config::from_figment(&Figment::new().merge(Toml::string(toml).nested()))
}

#[test]
fn defaults_without_a_table() {
    assert_eq!(read("").unwrap(), Config::default());
    assert_eq!(read("[default]\nport = 8000").unwrap(), Config::default());
}

#[test]
fn every_key_reads() {
    let config = read(
        r#"
        [default.hitcount]
        keep_hit_active = { days = 1 }
        hits_per_ip_limit = 3
        cleanup_interval = "1 hour"
        base_path = "/stats"
        secret_key = "0123456789abcdef0123456789abcdef"
        trusted_proxies = ["10.0.0.0/8", "2001:db8::1"]
        token_ttl = "2 hours"
        require_token = false
        csrf_cookie_name = "xsrf"
        cookie = { name = "v", max_age = "1 day", expire_at_browser_close = true, secure = true, mode = "signed", visit_counts = true, visit_interval = "1 day" }
        "#,
    )
    .unwrap();
    assert_eq!(config.counting.keep_hit_active, Window::days(1));
    assert_eq!(config.counting.hits_per_ip_limit, 3);
    assert_eq!(config.counting.cleanup_interval, Some(Window::hours(1)));
    assert_eq!(config.ajax_url(), "/stats/hit/ajax/");
    assert_eq!(config.trusted_proxies[1].to_string(), "2001:db8::1/128");
    assert_eq!(config.token_ttl, Window::hours(2));
    assert!(!config.require_token);
    assert_eq!(config.csrf_cookie_name, "xsrf");
    assert_eq!(config.cookie.mode, CookieMode::Signed);
    assert!(config.cookie.expire_at_browser_close && config.cookie.secure);
    assert!(config.cookie.visit_counts);
    assert_eq!(config.cookie.visit_interval, Some(Window::days(1)));
}

/// A cookie that does not outlive an active hit launches with a
/// warning naming both keys; a browser-session cookie has no age.
#[test]
fn a_cookie_shorter_than_an_active_hit_is_warned_about() {
    let mut config = Config::default();
    assert_eq!(
        config.warnings(),
        Vec::<String>::new(),
        "two weeks outlive a week"
    );
    config.cookie.max_age = Window::days(7);
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("`hitcount.cookie.max_age` (days=7)"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("`hitcount.keep_hit_active` (days=7)"),
        "{}",
        warnings[0]
    );
    assert!(
        !warnings[0].contains("counted again"),
        "equal: it runs out with the hit"
    );
    config.cookie.max_age = Window::days(6);
    let warnings = config.warnings();
    assert!(warnings[0].ends_with("is counted again"), "{warnings:?}");
    config.cookie.expire_at_browser_close = true;
    assert!(config.warnings().is_empty(), "no age to run out");
    config.cookie.expire_at_browser_close = false;
    config.cookie.max_age = Window::days(500);
    config.counting.keep_hit_active = Window::days(450);
    let warnings = config.warnings();
    assert!(
        warnings[0].contains("of which browsers keep 400 days"),
        "{warnings:?}"
    );
    config.counting.keep_hit_active = Window::days(399);
    assert!(config.warnings().is_empty());
}

/// The cookie-free mode needs the private hit log (and so no IP), rules
/// out what lives in the cookie, and warns once that the salt's day
/// bounds a longer `keep_hit_active`.
#[test]
fn the_cookie_free_mode_keeps_nothing_and_says_what_it_needs() {
    let with_cookie = |cookie: &str, toml: &str| {
        read(&format!(
            "[default.hitcount]\ncookie = {{ mode = \"none\"{cookie} }}\n{toml}"
        ))
        .unwrap_err()
    };
    let error = |toml: &str| with_cookie("", toml);
    let alone = error("");
    assert_eq!(
        (alone.kind(), alone.key()),
        (ConfigErrorKind::CookieFree, "hitcount.cookie.mode")
    );
    assert_eq!(
        alone.to_string(),
        "invalid value \"none\" for setting `hitcount.cookie.mode`: counts without cookies or personal \
         data: it needs private_hit_log = true and ip_storage = \"none\""
    );
    let hashed = error("private_hit_log = true");
    assert_eq!(
        (hashed.kind(), hashed.key()),
        (ConfigErrorKind::Counting, "hitcount.ip_storage")
    );
    assert!(hashed.to_string().contains("\"hashed\""), "{hashed}");
    let private = "private_hit_log = true\nip_storage = \"none\"";
    let limited = error(&format!("{private}\nhits_per_ip_limit = 3"));
    assert_eq!(limited.key(), "hitcount.hits_per_ip_limit");
    for (cookie, key, value) in [
        (
            ", visit_counts = true",
            "hitcount.cookie.visit_counts",
            "\"true\"",
        ),
        (
            ", visit_interval = \"1 day\"",
            "hitcount.cookie.visit_interval",
            "\"days=1\"",
        ),
    ] {
        let err = with_cookie(cookie, private);
        assert_eq!(
            (err.kind(), err.key(), err.value()),
            (ConfigErrorKind::CookieFree, key, Some(value))
        );
        assert!(
            err.to_string()
                .ends_with("is kept in the visitor cookie, and cookie.mode = \"none\" sets none"),
            "{err}"
        );
    }
    let mut config = read(&format!(
        "[default.hitcount]\ncookie = {{ mode = \"none\", max_age = \"1 day\" }}\n{private}"
    ))
    .unwrap();
    let warnings = config.warnings();
    assert_eq!(
        warnings.len(),
        1,
        "no word of a cookie that is never set: {warnings:?}"
    );
    assert!(
        warnings[0].contains("`hitcount.keep_hit_active` (days=7) is longer than a day"),
        "{warnings:?}"
    );
    assert!(
        warnings[0].ends_with("a visitor is counted again on each new UTC day"),
        "{warnings:?}"
    );
    config.counting.keep_hit_active = Window::days(1);
    assert!(config.warnings().is_empty(), "a day is the salt's day");
    // With cookies, the private hit log bounds the window all the same.
    config.cookie.mode = CookieMode::Private;
    config.cookie.max_age = Window::days(14);
    config.counting.keep_hit_active = Window::days(2);
    assert_eq!(config.warnings().len(), 1);
}

/// Each invalid setting stops with an error of its kind, naming the
/// key, and a message naming the key and the value.
#[test]
fn invalid_settings_name_key_and_value() {
    use ConfigErrorKind::*;
    for (toml, kind, key, value) in [
        (
            "keep_hit_active = \"7 dayz\"",
            Malformed,
            "keep_hit_active",
            "7 dayz",
        ),
        (
            "keep_hits_active = \"7 days\"",
            UnknownKey,
            "keep_hits_active",
            "unknown",
        ),
        (
            "counting = \"exact\"",
            NotASetting,
            "counting",
            "always counted exactly",
        ),
        (
            "hits_per_ip_limit = \"many\"",
            Malformed,
            "hits_per_ip_limit",
            "many",
        ),
        ("ip_storage = \"partial\"", Malformed, "ip_storage", "partial"),
        (
            "keep_hit_in_database = \"1 day\"",
            Counting,
            "keep_hit_in_database",
            "days=1",
        ),
        ("base_path = \"stats\"", NotAnAbsolutePath, "base_path", "stats"),
        ("secret_key = \"short\"", ShortSecret, "secret_key", "32"),
        (
            "trusted_proxies = [\"10.0.0.0/33\"]",
            Malformed,
            "trusted_proxies",
            "10.0.0.0/33",
        ),
        (
            "trusted_proxies = [\"proxy.local\"]",
            Malformed,
            "trusted_proxies",
            "proxy.local",
        ),
        (
            "cookie = { name = \"a b\" }",
            NotACookieName,
            "cookie.name",
            "a b",
        ),
        (
            "cookie = { nme = \"x\" }",
            UnknownKey,
            "cookie.nme",
            "cookie.visit_counts",
        ),
        (
            "cookie = { max_age = \"forever\" }",
            Malformed,
            "cookie.max_age",
            "forever",
        ),
        (
            "csrf_cookie_name = \"hitcount_visitor\"",
            SameCookieName,
            "csrf_cookie_name",
            "hitcount_visitor",
        ),
        (
            "token_ttl = \"0 seconds\"",
            ZeroDuration,
            "token_ttl",
            "seconds=0",
        ),
        (
            "cookie = { max_age = \"0 days\" }",
            ZeroDuration,
            "cookie.max_age",
            "seconds=0",
        ),
        (
            "cookie = { visit_interval = \"0 seconds\" }",
            ZeroDuration,
            "cookie.visit_interval",
            "seconds=0",
        ),
        (
            "cookie = { visit_interval = \"daily\" }",
            Malformed,
            "cookie.visit_interval",
            "daily",
        ),
        (
            "proxy_header = \"X Real IP\"",
            NotAHeaderName,
            "proxy_header",
            "X Real IP",
        ),
    ] {
        let err = read(&format!("[default.hitcount]\n{toml}")).unwrap_err();
        assert_eq!(err.kind(), kind, "{toml}: {err}");
        assert_eq!(err.key(), format!("hitcount.{key}"), "{toml}: {err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("`hitcount.{key}`")),
            "{toml}: {message}"
        );
        assert!(message.contains(value), "{toml}: {message}");
    }
}

/// The messages the guide and the launch log show, word for word.
#[test]
fn messages_keep_their_words() {
    let message = |toml: &str| {
        read(&format!("[default.hitcount]\n{toml}"))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        message("counting = \"exact\""),
        "`hitcount.counting` is not a setting: hits are always counted exactly, \
         on any number of app instances; delete the key"
    );
    assert_eq!(
        message("base_path = \"stats\""),
        "invalid value \"stats\" for setting `hitcount.base_path`: \
         must be an absolute path such as \"/hitcount\""
    );
    assert_eq!(
        message("token_ttl = \"0 seconds\""),
        "invalid value \"seconds=0\" for setting `hitcount.token_ttl`: must be longer than zero"
    );
    assert_eq!(
        message("csrf_cookie_name = \"hitcount_visitor\""),
        "invalid value \"hitcount_visitor\" for setting `hitcount.csrf_cookie_name`: \
         must differ from cookie.name"
    );
    assert_eq!(
        message("fast_commits = \"maybe\""),
        "invalid setting `hitcount.fast_commits`: invalid type: found string \"maybe\", expected a boolean"
    );
    assert_eq!(
        message("keep_hit_in_database = \"1 day\""),
        "invalid value \"days=1\" for setting `hitcount.keep_hit_in_database`: must be at least \
         keep_hit_active (days=7): cleanup would delete hits that are still active"
    );
    let unknown = message("keep_hits_active = \"7 days\"");
    let known = unknown
        .strip_prefix("unknown setting `hitcount.keep_hits_active` (known: ")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{unknown}"));
    let known: Vec<&str> = known.split(", ").collect();
    for key in [
        "keep_hit_active",
        "fast_commits",
        "base_path",
        "cookie",
        "csrf_cookie_name",
    ] {
        assert!(known.contains(&key), "{key} in {unknown}");
    }
    assert!(!known.contains(&"counting"), "flattened, not a key: {unknown}");
    assert!(
        !known.contains(&"cookie.name"),
        "the top-level keys only: {unknown}"
    );
    assert_eq!(
        message("cookie = { nme = \"x\" }"),
        "unknown setting `hitcount.cookie.nme` (known: cookie.name, cookie.max_age, \
         cookie.expire_at_browser_close, cookie.secure, cookie.mode, cookie.visit_counts, \
         cookie.visit_interval)"
    );
    assert_eq!(
        message("cookie = { visit_interval = \"0s\" }"),
        "invalid value \"seconds=0\" for setting `hitcount.cookie.visit_interval`: \
         must be longer than zero (leave it out to keep no site visits)"
    );
}

/// A secret's value is never shown, nor an unknown key's, which may be
/// a misspelt secret.
#[test]
fn values_are_shown_but_secrets_are_not() {
    let error = |toml: &str| read(&format!("[default.hitcount]\n{toml}")).unwrap_err();
    assert_eq!(error("keep_hit_active = \"7 dayz\"").value(), Some("\"7 dayz\""));
    assert_eq!(error("hits_per_ip_limit = -1").value(), Some("-1"));
    assert_eq!(error("cookie = { secure = \"yes\" }").value(), Some("\"yes\""));
    assert_eq!(
        error("keep_hit_in_database = { days = 1 }").value(),
        Some("\"days=1\"")
    );
    for (toml, secret) in [
        ("secret_key = \"hunter2\"", "hunter2"),
        ("secret_key = 12345", "12345"),
        ("ip_hash_key = \"hunter2\"", "hunter2"),
        ("secret_kye = \"0123456789abcdef0123456789abcdef\"", "0123456789"),
    ] {
        let err = error(toml);
        assert_eq!(err.value(), None, "{toml}");
        if err.kind() != ConfigErrorKind::Malformed {
            // Figment's own message of a wrong type quotes the value.
            assert!(!err.to_string().contains(secret), "{toml}: {err}");
        }
    }
    let err = read("[default]\nhitcount = 5").unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::NotATable);
    assert_eq!((err.key(), err.value()), ("hitcount", Some("5")));
}

/// The error behind one, figment's or the counter's, is its source.
#[test]
fn the_error_behind_is_the_source() {
    use std::error::Error as _;
    fn lasting<E: std::error::Error + Send + Sync + 'static>(_: &E) {}

    let err = read("[default.hitcount]\nfast_commits = \"maybe\"").unwrap_err();
    lasting(&err);
    let figment = err
        .source()
        .and_then(|s| s.downcast_ref::<rocket::figment::Error>());
    assert_eq!(figment.expect("figment's error").path, ["fast_commits"]);
    let err = read("[default.hitcount]\ncookie = { nme = \"x\" }").unwrap_err();
    assert!(err.source().is_some_and(|s| s.is::<rocket::figment::Error>()));
    let err = read("[default.hitcount]\ncleanup_batch_size = 0").unwrap_err();
    let core = err.source().and_then(|s| s.downcast_ref::<hitcount::Error>());
    assert!(
        matches!(
            core,
            Some(hitcount::Error::Setting {
                key: "cleanup_batch_size",
                ..
            })
        ),
        "{core:?}"
    );
    let err = read("[default.hitcount]\nbase_path = \"stats\"").unwrap_err();
    assert!(err.source().is_none());
    let broken = Figment::new().merge(Toml::string("[default.hitcount\n").nested());
    let err = Config::from_figment(&broken).unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Unreadable);
    assert!(err.source().is_some_and(|s| s.is::<rocket::figment::Error>()));
    assert!(
        err.to_string().starts_with("invalid [hitcount] settings: "),
        "{err}"
    );
}

/// The accepted keys are the types' fields: the counting settings,
/// flattened, the integration's keys, and the cookie's table; each
/// reads back as the default it was written from.
#[test]
fn the_accepted_keys_are_the_fields() {
    let keys = setting_keys();
    for key in [
        "keep_hit_active",
        "ip_hash_key",
        "fast_commits",
        "cleanup_interval",
        "base_path",
        "secret_key",
        "trusted_proxies",
        "cookie",
        "cookie.name",
        "cookie.visit_counts",
        "cookie.visit_interval",
        "csrf_cookie_name",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
    }
    assert!(!keys.iter().any(|k| k == "counting"), "{keys:?}");
    let written = Figment::new().merge(Serialized::default("hitcount", Config::default()));
    assert_eq!(Config::from_figment(&written).unwrap(), Config::default());
}

/// The pages of the guide whose tables document the settings, each
/// from a heading to the next of its level: the counting settings, and
/// the integration's table that their page links to.
const SETTINGS_DOCS: &[(&str, &str)] = &[("settings.md", "# Settings")];

/// The part of a Markdown page under `heading`, up to the next heading
/// of its level or above (outside code blocks).
fn section<'a>(page: &'a str, heading: &str) -> &'a str {
    let level = heading.bytes().take_while(|&b| b == b'#').count();
    let start = page
        .lines()
        .position(|line| line == heading)
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let mut in_code = false;
    let lines: Vec<&str> = page.lines().collect();
    let end = (start + 1..lines.len())
        .find(|&i| {
            let line = lines[i];
            in_code ^= line.starts_with("```");
            let hashes = line.bytes().take_while(|&b| b == b'#').count();
            !in_code && hashes > 0 && hashes <= level && line[hashes..].starts_with(' ')
        })
        .unwrap_or(lines.len());
    let offset = |i: usize| {
        lines[..i]
            .iter()
            .map(|l| l.len() + 1)
            .sum::<usize>()
            .min(page.len())
    };
    &page[offset(start)..offset(end)]
}

/// The keys that no table row documents: a key has a row of its own
/// (``| `base_path` |``); a key of a nested table is named in its
/// table's row or written out (`cookie.name`).
fn undocumented(keys: &[String], tables: &str) -> Vec<String> {
    let row = |key: &str| {
        let start = format!("| `{key}` |");
        tables.lines().find(move |line| line.starts_with(&start))
    };
    keys.iter()
        .filter(|key| match key.rsplit_once('.') {
            None => row(key).is_none(),
            Some((table, name)) => {
                !tables.contains(&format!("`{key}`"))
                    && !row(table).is_some_and(|line| line.contains(&format!("`{name}`")))
            }
        })
        .cloned()
        .collect()
}

/// Every key a user can write is documented in the guide's settings
/// tables, so that a new setting cannot go undocumented.
#[test]
fn every_setting_is_documented() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let tables: String = SETTINGS_DOCS
        .iter()
        .map(|(page, heading)| {
            let text = std::fs::read_to_string(docs.join(page)).expect("the guide's page");
            section(&text, heading).to_owned()
        })
        .collect();
    let keys = setting_keys();
    let missing = undocumented(&keys, &tables);
    assert!(
        missing.is_empty(),
        "settings without a row in the guide's tables ({}): {missing:?}",
        SETTINGS_DOCS
            .iter()
            .map(|(page, _)| *page)
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The check sees a missing row, and a nested key missing from its
    // table's row.
    let without = tables
        .replace("| `sqlite_wal` |", "| sqlite_wal |")
        .replace("`cookie.visit_counts`", "the cookie's visit counts")
        .replace("`visit_counts`", "visit counts");
    assert_eq!(
        undocumented(&keys, &without),
        ["cookie.visit_counts", "sqlite_wal"]
    );
}
