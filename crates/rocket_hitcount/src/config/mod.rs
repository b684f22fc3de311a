//! `[default.hitcount]`: the counter's settings plus the integration's own.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hitcount::{Settings, Window};
use ipnet::IpNet;
use rocket::figment::value::{Dict, Value};
use rocket::figment::Figment;
use rocket::http::Cookie;
use serde::{Deserialize, Deserializer, Serialize};

/// How the visitor cookie is protected, or that there is none.
///
/// ```
/// let mode: rocket_hitcount::CookieMode = serde_json::from_str("\"signed\"").unwrap();
/// assert_eq!(mode, rocket_hitcount::CookieMode::Signed);
/// let mode: rocket_hitcount::CookieMode = serde_json::from_str("\"none\"").unwrap();
/// assert_eq!(mode, rocket_hitcount::CookieMode::None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieMode {
    /// Encrypted and authenticated (AES-256-GCM) under a key derived from
    /// `hitcount.secret_key`. The default.
    #[default]
    Private,
    /// Readable, but signed with `hitcount.secret_key`: for seeing what a
    /// browser holds.
    Signed,
    /// No cookie at all: neither the visitor cookie nor the CSRF cookie is
    /// set on any answer, every visitor is known by its IP and user agent
    /// (under `secret_key` in memory, and per object under the day's salt
    /// in the private hit log), and the AJAX endpoint is protected by the
    /// same-origin check and the page token. Needs
    /// `private_hit_log = true` and `ip_storage = "none"`, so that nothing
    /// about the visitor is kept; rules out `visit_counts` and
    /// `visit_interval`, which live in the cookie. A visitor counts at
    /// most once per object per UTC day.
    ///
    /// ```
    /// use rocket::figment::{Figment, providers::{Format, Toml}};
    ///
    /// let figment = Figment::new().merge(Toml::string(r#"
    ///     [hitcount]
    ///     cookie = { mode = "none" }
    ///     private_hit_log = true
    ///     ip_storage = "none"
    ///     keep_hit_active = "1 day"
    /// "#));
    /// let config = rocket_hitcount::Config::from_figment(&figment).unwrap();
    /// assert_eq!(config.cookie.mode, rocket_hitcount::CookieMode::None);
    /// assert!(config.warnings().is_empty());
    /// ```
    None,
}

/// The visitor cookie: Django's session cookie settings.
///
/// ```
/// let cookie = rocket_hitcount::VisitorCookie::default();
/// assert_eq!(cookie.name, "hitcount_visitor");
/// assert_eq!(cookie.max_age, rocket_hitcount::Window::days(14));
/// assert!(!cookie.visit_counts, "views per visitor are kept on request");
/// assert_eq!(cookie.visit_interval, None, "so are visits of the site");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct VisitorCookie {
    /// The cookie's name. Default `hitcount_visitor`.
    pub name: String,
    /// How long the cookie lives (`SESSION_COOKIE_AGE`). Default two weeks.
    pub max_age: Window,
    /// Make it a browser-session cookie, without an age
    /// (`SESSION_EXPIRE_AT_BROWSER_CLOSE`). Default `false`.
    pub expire_at_browser_close: bool,
    /// Send it over HTTPS only (`SESSION_COOKIE_SECURE`). Default `false`;
    /// set it on every site served over HTTPS.
    pub secure: bool,
    /// Private (encrypted), signed, or no cookie at all (`none`). Default
    /// `private`.
    pub mode: CookieMode,
    /// Keep the visitor's views per object in the cookie, for "You have
    /// visited this page N times" ([`HitContext::visits`]). Default
    /// `false`: the cookie is then set on the first visit, as Django sets
    /// its session cookie, and again only when less than
    /// `keep_hit_active` of its age is left; a returning browser's pages
    /// carry no `Set-Cookie`. With `true`, every counted view sets it
    /// again with one more visit.
    ///
    /// [`HitContext::visits`]: crate::HitContext::visits
    pub visit_counts: bool,
    /// Keep the visitor's visits of the whole site in the cookie, the
    /// Django tutorial's `visits` and `last_visit`: a request whose last
    /// counted visit is at least this long ago, or that has none, adds
    /// one ([`Hits::site_visits`]). Default none: no site visits are
    /// kept, and the cookie is as without the setting. With an interval,
    /// the cookie is set again whenever a visit is counted, at most once
    /// an interval for a returning browser.
    ///
    /// ```
    /// use rocket::figment::{Figment, providers::{Format, Toml}};
    ///
    /// let figment = Figment::new().merge(Toml::string(
    ///     "[hitcount]\ncookie = { visit_interval = \"1 day\" }",
    /// ));
    /// let config = rocket_hitcount::Config::from_figment(&figment).unwrap();
    /// assert_eq!(config.cookie.visit_interval, Some(rocket_hitcount::Window::days(1)));
    /// ```
    ///
    /// [`Hits::site_visits`]: crate::Hits::site_visits
    pub visit_interval: Option<Window>,
}

impl VisitorCookie {
    /// Switches `Secure` on when `secure` is set, and never off: left
    /// unset, Rocket sets it by itself under TLS. For both of our cookies.
    pub(crate) fn mark_secure(&self, cookie: &mut Cookie<'_>) {
        if self.secure {
            cookie.set_secure(true);
        }
    }

    /// How long, in seconds, browsers keep the cookie: its `max_age`, at
    /// most the 400 days browsers honour (RFC 6265bis).
    pub(crate) fn lasting_age(&self) -> u64 {
        self.max_age.as_secs().min(BROWSER_MAX_AGE)
    }
}

/// The longest `Max-Age` browsers honour (RFC 6265bis): 400 days.
const BROWSER_MAX_AGE: u64 = 400 * 86_400;

impl Default for VisitorCookie {
    fn default() -> Self {
        VisitorCookie {
            name: "hitcount_visitor".into(),
            max_age: Window::days(14),
            expire_at_browser_close: false,
            secure: false,
            mode: CookieMode::Private,
            visit_counts: false,
            visit_interval: None,
        }
    }
}

/// Everything under `[default.hitcount]` in `Rocket.toml` (or
/// `ROCKET_HITCOUNT={...}`): the counting settings of
/// [`hitcount::Settings`], flattened, and the integration's keys.
///
/// ```
/// use rocket::figment::{Figment, providers::{Format, Toml}};
///
/// let figment = Figment::new().merge(Toml::string(r#"
///     [hitcount]
///     keep_hit_active = "1 day"
///     base_path = "/stats"
///     trusted_proxies = ["10.0.0.0/8", "192.0.2.1"]
///     cookie = { secure = true }
/// "#));
/// let config = rocket_hitcount::Config::from_figment(&figment).unwrap();
/// assert_eq!(config.counting.keep_hit_active, rocket_hitcount::Window::days(1));
/// assert_eq!(config.base_path, "/stats");
/// assert_eq!(config.trusted_proxies.len(), 2);
/// assert!(config.cookie.secure);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Config {
    /// The counting rules' settings (`keep_hit_active`, ...), at the same
    /// level as the keys below.
    #[serde(flatten)]
    pub counting: Settings,
    /// Where the AJAX endpoint and the scripts are mounted. Default
    /// `/hitcount`.
    pub base_path: String,
    /// The integration's secret (32 characters or more): it signs page
    /// tokens and signed cookies, seals private ones, and salts the key of
    /// cookieless visitors when the database gives no salt of the day.
    /// Required in release builds; debug builds make a random one per run.
    pub secret_key: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed: CIDRs or addresses.
    /// Default none: forwarding headers are ignored.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<IpNet>,
    /// The forwarding header that `trusted_proxies` set: `X-Forwarded-For`
    /// (the default) or, for proxies configured that way, `X-Real-IP`. Only
    /// this header is read, and only from a trusted proxy.
    pub proxy_header: String,
    /// How long a page token lets the page's script count a hit. Longer
    /// than the longest time a CDN may cache your pages. Default 1 day.
    pub token_ttl: Window,
    /// Whether the AJAX endpoint requires a page token. Default `true`.
    pub require_token: bool,
    /// The visitor cookie.
    pub cookie: VisitorCookie,
    /// The CSRF cookie's name (Django's `CSRF_COOKIE_NAME`). Default
    /// `csrftoken`.
    pub csrf_cookie_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            counting: Settings::default(),
            base_path: "/hitcount".into(),
            secret_key: None,
            trusted_proxies: Vec::new(),
            proxy_header: "X-Forwarded-For".into(),
            token_ttl: Window::days(1),
            require_token: true,
            cookie: VisitorCookie::default(),
            csrf_cookie_name: "csrftoken".into(),
        }
    }
}

/// Keys whose values are secrets: an error names them but never shows
/// their value.
const SECRET_KEYS: &[&str] = &["secret_key", "ip_hash_key"];

/// Keys that look like settings but are none, and why.
const NOT_SETTINGS: &[(&str, &str)] = &[(
    "counting",
    "hits are always counted exactly, on any number of app instances",
)];

/// Every key a `[hitcount]` table accepts, read off the settings types:
/// the top-level keys (`keep_hit_active`, `cookie`, ...) and, for a
/// setting that is a table of its own, its keys (`cookie.name`, ...).
///
/// Serde cannot refuse unknown top-level keys itself: `deny_unknown_fields`
/// does not work next to the flattened counting settings, and its message
/// would not list the keys. The derived `Serialize` of [`Config`] writes
/// every field under the name its `Deserialize` reads, the flattened ones
/// included, so the defaults, serialized, name every setting. (A field
/// skipped when serializing would be refused here: keep the two alike.)
fn setting_keys() -> Vec<String> {
    fn walk(prefix: &str, table: &Dict, keys: &mut Vec<String>) {
        for (name, value) in table {
            let key = format!("{prefix}{name}");
            keys.push(key.clone());
            if let Value::Dict(_, nested) = value {
                walk(&format!("{key}."), nested, keys);
            }
        }
    }
    let mut keys = Vec::new();
    match Value::serialize(Config::default()) {
        Ok(Value::Dict(_, table)) => walk("", &table, &mut keys),
        other => unreachable!("the default settings serialize as a table, not {other:?}"),
    }
    keys
}

impl Config {
    /// Reads and validates `hitcount` from a figment (Rocket's, at
    /// ignite). The error names the key and, where it can be shown, the
    /// value.
    ///
    /// ```
    /// use rocket::figment::{Figment, providers::Serialized};
    /// use rocket_hitcount::{Config, ConfigErrorKind};
    ///
    /// let figment = Figment::new().merge(Serialized::default("hitcount.keep_hits_active", "1 day"));
    /// let err = Config::from_figment(&figment).unwrap_err();
    /// assert_eq!(err.kind(), ConfigErrorKind::UnknownKey);
    /// assert_eq!(err.key(), "hitcount.keep_hits_active");
    /// assert!(err.to_string().contains("keep_hit_active"), "the known keys: {err}");
    /// ```
    pub fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        // Focusing on a value that is no table would quietly drop it.
        if let Ok(value) = figment.find_value("hitcount") {
            if value.as_dict().is_none() {
                return Err(ConfigError::not_a_table(&value));
            }
        }
        let scoped = figment.focus("hitcount");
        let keys: BTreeMap<String, Value> = scoped.extract().map_err(ConfigError::unreadable)?;
        if let Some((key, why)) = NOT_SETTINGS.iter().find(|(key, _)| keys.contains_key(*key)) {
            return Err(ConfigError::not_a_setting(key, why));
        }
        let known: Vec<String> = setting_keys().into_iter().filter(|k| !k.contains('.')).collect();
        if let Some(unknown) = keys.keys().find(|k| !known.contains(k)) {
            return Err(ConfigError::unknown(unknown, known));
        }
        // The counting settings first, on their own: inside `Config` they
        // are flattened, and serde then loses the key of an error.
        scoped
            .extract::<Settings>()
            .map_err(|e| ConfigError::malformed(&scoped, e))?;
        let config: Config = scoped.extract().map_err(|e| ConfigError::malformed(&scoped, e))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types cannot; the error names the key and, where it
    /// can be shown, the value.
    ///
    /// ```
    /// use rocket_hitcount::{Config, ConfigErrorKind};
    ///
    /// let mut config = Config::default();
    /// config.base_path = "stats".into();
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.kind(), ConfigErrorKind::NotAnAbsolutePath);
    /// assert_eq!(err.key(), "hitcount.base_path");
    /// assert_eq!(err.value(), Some("\"stats\""));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.counting.validate().map_err(ConfigError::counting)?;
        let fail = |key: &str, value: &str, kind, reason| Err(ConfigError::invalid(key, value, kind, reason));
        if !self.base_path.starts_with('/')
            || rocket::http::uri::Origin::parse(&self.base_path).is_err()
            || self.base_path.contains('?')
        {
            return fail(
                "base_path",
                &self.base_path,
                ConfigErrorKind::NotAnAbsolutePath,
                "must be an absolute path such as \"/hitcount\"",
            );
        }
        if let Some(key) = self.secret_key.as_ref().filter(|key| key.len() < 32) {
            return fail(
                "secret_key",
                key,
                ConfigErrorKind::ShortSecret,
                "must be at least 32 characters long",
            );
        }
        for (key, name) in [
            ("cookie.name", &self.cookie.name),
            ("csrf_cookie_name", &self.csrf_cookie_name),
        ] {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return fail(
                    key,
                    name,
                    ConfigErrorKind::NotACookieName,
                    "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~",
                );
            }
        }
        if self.cookie.name == self.csrf_cookie_name {
            return fail(
                "csrf_cookie_name",
                &self.csrf_cookie_name,
                ConfigErrorKind::SameCookieName,
                "must differ from cookie.name",
            );
        }
        let header_name = !self.proxy_header.is_empty()
            && self
                .proxy_header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !header_name {
            return fail(
                "proxy_header",
                &self.proxy_header,
                ConfigErrorKind::NotAHeaderName,
                "must be a header name such as \"X-Real-IP\"",
            );
        }
        if self.token_ttl.as_secs() == 0 {
            return fail(
                "token_ttl",
                &self.token_ttl.to_string(),
                ConfigErrorKind::ZeroDuration,
                "must be longer than zero",
            );
        }
        if let Some(interval) = self.cookie.visit_interval.filter(|w| w.as_secs() == 0) {
            return fail(
                "cookie.visit_interval",
                &interval.to_string(),
                ConfigErrorKind::ZeroDuration,
                "must be longer than zero (leave it out to keep no site visits)",
            );
        }
        if self.cookie_free() {
            let needs = "counts without cookies or personal data: it needs private_hit_log = true \
                         and ip_storage = \"none\"";
            if !self.counting.private_hit_log {
                return fail("cookie.mode", "none", ConfigErrorKind::CookieFree, needs);
            }
            let cookie_only = [
                (
                    "cookie.visit_counts",
                    self.cookie.visit_counts.then(|| "true".to_owned()),
                ),
                (
                    "cookie.visit_interval",
                    self.cookie.visit_interval.map(|w| w.to_string()),
                ),
            ];
            if let Some((key, Some(value))) = cookie_only.into_iter().find(|(_, value)| value.is_some()) {
                return fail(
                    key,
                    &value,
                    ConfigErrorKind::CookieFree,
                    "is kept in the visitor cookie, and cookie.mode = \"none\" sets none",
                );
            }
        }
        if self.cookie.max_age.as_secs() == 0 && !self.cookie.expire_at_browser_close {
            return fail(
                "cookie.max_age",
                &self.cookie.max_age.to_string(),
                ConfigErrorKind::ZeroDuration,
                "must be longer than zero",
            );
        }
        Ok(())
    }

    /// Settings that are valid but work against the visitor, one message
    /// each, naming the keys; the fairing logs them as warnings at ignite.
    /// A visitor cookie that does not outlive `keep_hit_active` is set
    /// again on every counted view; a shorter one can be gone while the
    /// visitor's hit is still active, counting a returning visitor twice
    /// inside the window.
    ///
    /// ```
    /// let mut config = rocket_hitcount::Config::default();
    /// assert!(config.warnings().is_empty());
    /// config.cookie.max_age = rocket_hitcount::Window::days(1);
    /// assert!(config.warnings()[0].contains("cookie.max_age"));
    /// ```
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let keep_active = self.counting.keep_hit_active;
        let lasting = self.cookie.lasting_age();
        if !self.cookie_free() && !self.cookie.expire_at_browser_close && lasting <= keep_active.as_secs() {
            let capped = if lasting < self.cookie.max_age.as_secs() {
                ", of which browsers keep 400 days"
            } else {
                ""
            };
            // Equal, it runs out as the hit stops being active: not before.
            let recounted = if lasting < keep_active.as_secs() {
                ", and a visitor whose cookie ran out while a hit was still active is counted again"
            } else {
                ""
            };
            warnings.push(format!(
                "`hitcount.cookie.max_age` ({}{capped}) is not longer than `hitcount.keep_hit_active` \
                 ({keep_active}): the visitor cookie is set again on every page that counts{recounted}",
                self.cookie.max_age
            ));
        }
        if self.counting.private_hit_log && keep_active > Window::days(1) {
            warnings.push(format!(
                "`hitcount.keep_hit_active` ({keep_active}) is longer than a day, but with \
                 `hitcount.private_hit_log` a visitor's hits are told apart by the day's salt: \
                 a visitor is counted again on each new UTC day"
            ));
        }
        warnings
    }

    /// Whether the counter sets no cookies (`cookie.mode = "none"`).
    ///
    /// ```
    /// let mut config = rocket_hitcount::Config::default();
    /// assert!(!config.cookie_free());
    /// config.cookie.mode = rocket_hitcount::CookieMode::None;
    /// assert!(config.cookie_free());
    /// ```
    pub fn cookie_free(&self) -> bool {
        self.cookie.mode == CookieMode::None
    }

    /// The AJAX endpoint's path, `<base_path>/hit/ajax/`.
    ///
    /// ```
    /// assert_eq!(rocket_hitcount::Config::default().ajax_url(), "/hitcount/hit/ajax/");
    /// ```
    pub fn ajax_url(&self) -> String {
        self.under_base("hit/ajax/")
    }

    /// Where the fairing serves `hitcount.js`.
    ///
    /// ```
    /// assert_eq!(rocket_hitcount::Config::default().script_url(), "/hitcount/static/hitcount.js");
    /// ```
    pub fn script_url(&self) -> String {
        self.under_base("static/hitcount.js")
    }

    /// Where the fairing serves `jquery.postcsrf.js`.
    ///
    /// ```
    /// assert_eq!(
    ///     rocket_hitcount::Config::default().jquery_script_url(),
    ///     "/hitcount/static/jquery.postcsrf.js"
    /// );
    /// ```
    pub fn jquery_script_url(&self) -> String {
        self.under_base("static/jquery.postcsrf.js")
    }

    /// `path` under the base path, with one slash between them.
    fn under_base(&self, path: &str) -> String {
        format!("{}/{path}", self.base_path.trim_end_matches('/'))
    }
}

/// Proxies as CIDRs (`10.0.0.0/8`) or single addresses (`10.0.0.1`).
fn networks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    let entries = Vec::<String>::deserialize(deserializer)?;
    entries
        .iter()
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{entry:?} is not an IP address or a network such as 10.0.0.0/8"
                    ))
                })
        })
        .collect()
}

mod error;
#[cfg(test)]
mod tests;

pub use error::{ConfigError, ConfigErrorKind};
