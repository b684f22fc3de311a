//! `[default.hitcount]`: the counter's settings plus the integration's own.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use hitcount::{Settings, Window};
use ipnet::IpNet;
use rocket::figment::error::Kind;
use rocket::figment::value::{Dict, Value};
use rocket::figment::Figment;
use rocket::http::Cookie;
use serde::{Deserialize, Deserializer, Serialize};

/// How the visitor cookie is protected.
///
/// ```
/// let mode: rocket_hitcount::CookieMode = serde_json::from_str("\"signed\"").unwrap();
/// assert_eq!(mode, rocket_hitcount::CookieMode::Signed);
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
}

/// The visitor cookie: Django's session cookie settings.
///
/// ```
/// let cookie = rocket_hitcount::VisitorCookie::default();
/// assert_eq!(cookie.name, "hitcount_visitor");
/// assert_eq!(cookie.max_age, rocket_hitcount::Window::days(14));
/// assert!(!cookie.visit_counts, "views per visitor are kept on request");
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
    /// Private (encrypted) or signed. Default `private`.
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
        if !self.cookie.expire_at_browser_close && lasting <= keep_active.as_secs() {
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
        warnings
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

/// A `[hitcount]` setting that the integration cannot use: the key, the
/// value when there is one to show, and what is wrong. Its `Display` is
/// the whole message, the one the fairing logs before it stops the launch;
/// [`source`](std::error::Error::source) gives the figment or counter
/// error behind it, when there is one.
///
/// ```
/// use rocket_hitcount::{Config, ConfigErrorKind};
///
/// let mut config = Config::default();
/// config.cookie.name = "a b".into();
/// let err = config.validate().unwrap_err();
/// assert_eq!(err.key(), "hitcount.cookie.name");
/// assert_eq!(err.value(), Some("\"a b\""));
/// assert_eq!(err.kind(), ConfigErrorKind::NotACookieName);
/// assert_eq!(
///     err.to_string(),
///     "invalid value \"a b\" for setting `hitcount.cookie.name`: \
///      must be a cookie name: letters, digits and !#$%&'*+-.^_`|~"
/// );
/// ```
#[derive(Debug)]
pub struct ConfigError {
    key: String,
    value: Option<String>,
    kind: ConfigErrorKind,
    reason: Cow<'static, str>,
    known: Vec<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ConfigError {
    /// The offending key, from the top of Rocket's configuration:
    /// `hitcount.cookie.name`, or `hitcount` when the table itself is
    /// wrong.
    ///
    /// ```
    /// use rocket::figment::{Figment, providers::{Format, Toml}};
    ///
    /// let figment = Figment::new().merge(Toml::string("[hitcount]\ncookie = { max_age = \"forever\" }"));
    /// let err = rocket_hitcount::Config::from_figment(&figment).unwrap_err();
    /// assert_eq!(err.key(), "hitcount.cookie.max_age");
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The rejected value as `Rocket.toml` writes it (a string in double
    /// quotes). `None` for a secret (`secret_key`, `ip_hash_key`), whose
    /// value is never shown, for an unknown key, which may be a misspelt
    /// secret, and where no single value is at fault.
    ///
    /// ```
    /// use rocket_hitcount::{Config, Window};
    ///
    /// let mut config = Config::default();
    /// config.token_ttl = Window::seconds(0);
    /// assert_eq!(config.validate().unwrap_err().value(), Some("\"seconds=0\""));
    ///
    /// config = Config::default();
    /// config.secret_key = Some("too short".into());
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.value(), None);
    /// assert!(!err.to_string().contains("too short"));
    /// ```
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What is wrong.
    ///
    /// ```
    /// use rocket::figment::{Figment, providers::Serialized};
    /// use rocket_hitcount::{Config, ConfigErrorKind};
    ///
    /// let figment = Figment::new().merge(Serialized::default("hitcount.fast_commits", "maybe"));
    /// let err = Config::from_figment(&figment).unwrap_err();
    /// assert_eq!(err.kind(), ConfigErrorKind::Malformed);
    /// ```
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// `hitcount.<key>`, or `hitcount` for the table itself.
    fn full_key(key: &str) -> String {
        if key.is_empty() {
            "hitcount".to_owned()
        } else {
            format!("hitcount.{key}")
        }
    }

    /// A value that a check of [`Config::validate`] refuses.
    fn invalid(key: &str, value: &str, kind: ConfigErrorKind, reason: &'static str) -> ConfigError {
        ConfigError {
            key: Self::full_key(key),
            value: (!SECRET_KEYS.contains(&key)).then(|| format!("{value:?}")),
            kind,
            reason: reason.into(),
            known: Vec::new(),
            source: None,
        }
    }

    /// A key no setting has; `known` are the keys of its table.
    fn unknown(key: &str, known: Vec<String>) -> ConfigError {
        ConfigError {
            key: Self::full_key(key),
            value: None,
            kind: ConfigErrorKind::UnknownKey,
            reason: "".into(),
            known,
            source: None,
        }
    }

    /// A key that is on purpose not a setting.
    fn not_a_setting(key: &str, why: &'static str) -> ConfigError {
        ConfigError {
            key: Self::full_key(key),
            value: None,
            kind: ConfigErrorKind::NotASetting,
            reason: why.into(),
            known: Vec::new(),
            source: None,
        }
    }

    /// `hitcount` is there, but not as a table of settings.
    fn not_a_table(value: &Value) -> ConfigError {
        ConfigError {
            key: Self::full_key(""),
            value: serde_json::to_string(value).ok(),
            kind: ConfigErrorKind::NotATable,
            reason: "must be a table of settings, such as [default.hitcount] in Rocket.toml".into(),
            known: Vec::new(),
            source: None,
        }
    }

    /// The configuration cannot be read at all.
    fn unreadable(error: rocket::figment::Error) -> ConfigError {
        ConfigError {
            key: Self::full_key(""),
            value: None,
            kind: ConfigErrorKind::Unreadable,
            reason: error.to_string().into(),
            known: Vec::new(),
            source: Some(Box::new(error)),
        }
    }

    /// A value that does not read as its setting's type; `scoped` is the
    /// figment focused on `hitcount`, where the error's path starts.
    fn malformed(scoped: &Figment, error: rocket::figment::Error) -> ConfigError {
        let path = error.path.join(".");
        if let Kind::UnknownField(field, expected) = &error.kind {
            // A nested table refuses its unknown keys itself (serde's
            // `deny_unknown_fields`), with the list of its keys. Figment's
            // path may end with the unknown key.
            let mut table = error.path.clone();
            if table.last() == Some(field) {
                table.pop();
            }
            let table: String = table.iter().map(|name| format!("{name}.")).collect();
            let key = format!("{table}{field}");
            let known = expected.iter().map(|name| format!("{table}{name}")).collect();
            return ConfigError {
                source: Some(Box::new(error)),
                ..Self::unknown(&key, known)
            };
        }
        ConfigError {
            key: Self::full_key(&path),
            value: if path.is_empty() {
                None
            } else {
                shown(scoped, &path)
            },
            kind: ConfigErrorKind::Malformed,
            reason: error.kind.to_string().into(),
            known: Vec::new(),
            source: Some(Box::new(error)),
        }
    }

    /// A counting setting that [`Settings::validate`] refuses.
    fn counting(error: hitcount::Error) -> ConfigError {
        let (key, value, reason) = match &error {
            hitcount::Error::Setting { key, value, reason } => (
                Self::full_key(key),
                (!SECRET_KEYS.contains(key)).then(|| value.clone()),
                reason.clone(),
            ),
            other => (Self::full_key(""), None, other.to_string()),
        };
        ConfigError {
            key,
            value,
            kind: ConfigErrorKind::Counting,
            reason: reason.into(),
            known: Vec::new(),
            source: Some(Box::new(error)),
        }
    }
}

/// The value at `path` in `figment` as `Rocket.toml` writes it, unless it
/// is a secret.
fn shown(figment: &Figment, path: &str) -> Option<String> {
    let name = path.rsplit('.').next().unwrap_or(path);
    if SECRET_KEYS.contains(&name) {
        return None;
    }
    let value = figment.find_value(path).ok()?;
    serde_json::to_string(&value).ok()
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ConfigError { key, reason, .. } = self;
        match (self.kind, &self.value) {
            (ConfigErrorKind::Unreadable, _) => write!(f, "invalid [hitcount] settings: {reason}"),
            (ConfigErrorKind::UnknownKey, _) => {
                write!(f, "unknown setting `{key}` (known: {})", self.known.join(", "))
            }
            (ConfigErrorKind::NotASetting, _) => {
                write!(f, "`{key}` is not a setting: {reason}; delete the key")
            }
            (ConfigErrorKind::Malformed, _) | (_, None) => write!(f, "invalid setting `{key}`: {reason}"),
            (_, Some(value)) => write!(f, "invalid value {value} for setting `{key}`: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// What is wrong with a `[hitcount]` setting: the kind of a
/// [`ConfigError`].
///
/// ```
/// use rocket::figment::{Figment, providers::{Format, Toml}};
/// use rocket_hitcount::{Config, ConfigErrorKind};
///
/// let kind = |toml: &str| {
///     let figment = Figment::new().merge(Toml::string(toml));
///     Config::from_figment(&figment).unwrap_err().kind()
/// };
/// assert_eq!(kind("hitcount = 5"), ConfigErrorKind::NotATable);
/// assert_eq!(kind("[hitcount]\nbase_pth = \"/stats\""), ConfigErrorKind::UnknownKey);
/// assert_eq!(kind("[hitcount]\ncookie = { nme = \"v\" }"), ConfigErrorKind::UnknownKey);
/// assert_eq!(kind("[hitcount]\ncounting = \"exact\""), ConfigErrorKind::NotASetting);
/// assert_eq!(kind("[hitcount]\nkeep_hit_active = \"7 dayz\""), ConfigErrorKind::Malformed);
/// assert_eq!(kind("[hitcount]\ncleanup_batch_size = 0"), ConfigErrorKind::Counting);
/// assert_eq!(kind("[hitcount]\nbase_path = \"stats\""), ConfigErrorKind::NotAnAbsolutePath);
/// assert_eq!(kind("[hitcount]\nsecret_key = \"short\""), ConfigErrorKind::ShortSecret);
/// assert_eq!(kind("[hitcount]\ncsrf_cookie_name = \"a b\""), ConfigErrorKind::NotACookieName);
/// assert_eq!(kind("[hitcount]\ncsrf_cookie_name = \"hitcount_visitor\""), ConfigErrorKind::SameCookieName);
/// assert_eq!(kind("[hitcount]\nproxy_header = \"X Real IP\""), ConfigErrorKind::NotAHeaderName);
/// assert_eq!(kind("[hitcount]\ntoken_ttl = \"0 seconds\""), ConfigErrorKind::ZeroDuration);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The configuration cannot be read at all: one of the figment's
    /// providers failed (a TOML syntax error, say). The source is
    /// figment's error.
    Unreadable,
    /// `hitcount` is not a table of settings (`hitcount = 5`, say).
    NotATable,
    /// A key that no setting has, at the top of `[hitcount]` or in one of
    /// its tables (`cookie`): a misspelling, say. The message lists the
    /// keys of that table.
    UnknownKey,
    /// A key that is on purpose not a setting, such as `counting`: hits
    /// are always counted exactly. The message says why.
    NotASetting,
    /// A value that does not read as its setting's type: a duration such
    /// as `"7 dayz"`, `"maybe"` for a flag, an unknown choice, a proxy
    /// that is no address or network. The source is figment's error.
    Malformed,
    /// A counting setting that the counter's own checks refuse (a zero
    /// `keep_hit_active`, a `keep_hit_in_database` shorter than it, ...).
    /// The source is the counter's
    /// [`hitcount::Error`](crate::hitcount::Error).
    Counting,
    /// `base_path` is not an absolute path such as `/hitcount`.
    NotAnAbsolutePath,
    /// `secret_key` is shorter than 32 characters. Its value is not shown.
    ShortSecret,
    /// `cookie.name` or `csrf_cookie_name` is not a valid cookie name.
    NotACookieName,
    /// `csrf_cookie_name` is the visitor cookie's name (`cookie.name`).
    SameCookieName,
    /// `proxy_header` is not a header name such as `X-Real-IP`.
    NotAHeaderName,
    /// A duration that must be longer than zero is zero: `token_ttl`, or
    /// `cookie.max_age` of a cookie that is not a browser-session one.
    ZeroDuration,
}

#[cfg(test)]
mod tests {
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
            cookie = { name = "v", max_age = "1 day", expire_at_browser_close = true, secure = true, mode = "signed", visit_counts = true }
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
             cookie.expire_at_browser_close, cookie.secure, cookie.mode, cookie.visit_counts)"
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
            .replace("`visit_counts`", "visit counts");
        assert_eq!(
            undocumented(&keys, &without),
            ["cookie.visit_counts", "sqlite_wal"]
        );
    }
}
