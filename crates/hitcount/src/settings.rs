//! The settings of the counter, with django-hitcount's names and defaults.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::values::IpStorage;
use crate::values::Window;

/// How the counter treats requests whose user agent is a known bot.
///
/// ```
/// let bots: hitcount::BotPolicy = serde_json::from_str("\"separate\"").unwrap();
/// assert_eq!(bots, hitcount::BotPolicy::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BotPolicy {
    /// Count bot requests in the object's `bot_hits`, never in `hits` or
    /// `views`. The default: bots are visible, and human counts stay clean.
    #[default]
    Separate,
    /// Treat bots like people (django-hitcount's behaviour).
    Count,
    /// Record nothing for bots.
    Ignore,
}

/// Whether the per-IP limit counts the active hits of an IP on the whole
/// site (django-hitcount) or per object.
///
/// ```
/// let scope: hitcount::IpLimitScope = serde_json::from_str("\"object\"").unwrap();
/// assert_eq!(scope, hitcount::IpLimitScope::Object);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpLimitScope {
    /// Active hits from the IP on any object count toward the limit.
    #[default]
    Site,
    /// Only active hits from the IP on the same object count.
    Object,
}

/// The counter's settings: `[default.hitcount]` in `Rocket.toml`.
///
/// Every field has django-hitcount's default; see the guide's "Settings"
/// chapter for the table of equivalents. Unknown keys are left to the
/// caller (the Rocket integration reads more keys from the same table).
///
/// ```
/// use hitcount::{Settings, Window};
///
/// let settings: Settings = toml::from_str(r#"
///     keep_hit_active = { days = 1 }
///     hits_per_ip_limit = 10
///     keep_hit_in_database = "90 days"
/// "#).unwrap();
/// settings.validate().unwrap();
/// assert_eq!(settings.keep_hit_active, Window::days(1));
/// assert_eq!(Settings::default().keep_hit_active, Window::days(7));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Settings {
    /// How long a counted hit blocks another count from the same visitor
    /// for the same object. `HITCOUNT_KEEP_HIT_ACTIVE`, default 7 days.
    pub keep_hit_active: Window,
    /// How many active hits one IP may make before it stops counting; 0
    /// means no limit. `HITCOUNT_HITS_PER_IP_LIMIT`, default 0.
    pub hits_per_ip_limit: u32,
    /// Whether `hits_per_ip_limit` is site-wide (django-hitcount) or per
    /// object. Default `site`.
    pub hits_per_ip_scope: IpLimitScope,
    /// Authenticated users in any of these groups are not counted.
    /// `HITCOUNT_EXCLUDE_USER_GROUP`, default none.
    pub exclude_user_groups: Vec<String>,
    /// How long hit rows stay in the hit log before cleanup removes them.
    /// Totals and daily buckets are kept. `HITCOUNT_KEEP_HIT_IN_DATABASE`,
    /// default 30 days.
    pub keep_hit_in_database: Window,
    /// How long hourly buckets stay before cleanup removes them, and never
    /// less than `keep_hit_in_database` (daily buckets stay for ever):
    /// `hits_in_last` is exact inside the hit log's retention, to the hour
    /// inside this one, and to the day beyond. At least a day. Default 7
    /// days (so, by default, the hit log's 30).
    pub keep_hourly_buckets: Window,
    /// What the hit log keeps of the visitor's IP address. Default `hashed`.
    pub ip_storage: IpStorage,
    /// The secret for `ip_storage = "hashed"`. When unset, a random key is
    /// made once and kept in the database, so every app instance on that
    /// database hashes alike. Set it to keep the key out of the database.
    pub ip_hash_key: Option<String>,
    /// Keep nothing in the hit log that tells one visitor from another:
    /// no user agent and no user id (bots, blacklists and
    /// `exclude_user_groups` still apply, on the request's own), and in
    /// place of the session key an HMAC of the object and the key under
    /// the day's salt ([`HitCounter::daily_salt`], forgotten after two
    /// days): it finds the visitor's hit on that object that day and
    /// matches no other row. So a visitor counts once per object per UTC
    /// day, whatever longer `keep_hit_active` says, and a signed-in user
    /// is counted by session like anyone else. Needs `ip_storage =
    /// "none"` and a `keep_hit_active` of at least a day. Django imports
    /// keep no visitor either: each row gets a key of its own, under the
    /// lasting `ip_hash_key`. Default `false`.
    ///
    /// [`HitCounter::daily_salt`]: crate::HitCounter::daily_salt
    pub private_hit_log: bool,
    /// What happens to requests from bots. Default `separate`.
    pub bots: BotPolicy,
    /// Leave out visitors who send `DNT: 1` or `Sec-GPC: 1`: their requests
    /// add to `views` but never to `hits`, and no hit row is written.
    /// Default `false` (django-hitcount counts everyone).
    pub respect_do_not_track: bool,
    /// How many hit rows one cleanup statement deletes at the most (on
    /// SQLite batches are also sized by time: `CleanupOptions::batch_time`).
    /// Default 1000.
    pub cleanup_batch_size: u32,
    /// Run cleanup in the background this often, on one app instance at a
    /// time (a lease in the database; see
    /// [`Admin::cleanup_alone`](crate::Admin::cleanup_alone)).
    /// Default none: run `hitcount cleanup` from cron, say.
    pub cleanup_interval: Option<Window>,
    /// Let counting commits return before they reach the disk: on SQLite
    /// the counter's connection commits with `synchronous = NORMAL` (in WAL
    /// mode), on PostgreSQL its transactions with `synchronous_commit =
    /// off`. The database is never corrupted and exactly-once holds, but a
    /// power cut or crash of the database server can lose the hits of the
    /// last moment (PostgreSQL: at most three `wal_writer_delay`, 0.6 s by
    /// default). Default `true`: a hit counter trades that for throughput.
    pub fast_commits: bool,
    /// On SQLite, switch the database to write-ahead logging (a lasting
    /// property of the file) so that the counter's commits need not wait
    /// for the disk and readers never wait for writers. Default `true`.
    pub sqlite_wal: bool,
    /// How often an instance checks the database for blacklist changes made
    /// by other instances. Changes made through this instance apply at once.
    /// Default 10 seconds.
    pub blacklist_refresh: Window,
    /// How long an instance reuses what it read from the database for
    /// counting: an object's pk and total, and that a visitor has an active
    /// hit on it. A repeat visit inside that time costs no query. Hits
    /// counted through this instance show at once; hits counted by other
    /// instances show in its answers at most this late. `0 seconds` reads
    /// every time. Default 1 second.
    pub counts_refresh: Window,
    /// How long counting one request may wait for the database: for the
    /// counting queue, a connection and the batch. A request not decided
    /// in time, or whose database is away (a connection refused or lost),
    /// is answered
    /// [`Reason::Unavailable`](crate::Reason::Unavailable) and its page
    /// renders; after a few such answers in a row the counter rests from
    /// the database for a moment and answers at once. Written like
    /// `"500ms"` or `"2s"`. Default 500 milliseconds.
    #[serde(deserialize_with = "duration_text", serialize_with = "as_duration_text")]
    pub count_timeout: Duration,
}

/// A duration written as text, `"500ms"`, `"2s"`, `"1m"`: what
/// `count_timeout` takes, finer than a [`Window`].
fn duration_text<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration {text:?} ({e}); write e.g. \"500ms\" or \"2s\""
        ))
    })
}

fn as_duration_text<S: Serializer>(
    duration: &Duration,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_duration(*duration).to_string())
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            keep_hit_active: Window::days(7),
            hits_per_ip_limit: 0,
            hits_per_ip_scope: IpLimitScope::Site,
            exclude_user_groups: Vec::new(),
            keep_hit_in_database: Window::days(30),
            keep_hourly_buckets: Window::days(7),
            ip_storage: IpStorage::default(),
            ip_hash_key: None,
            private_hit_log: false,
            bots: BotPolicy::Separate,
            respect_do_not_track: false,
            cleanup_batch_size: 1000,
            cleanup_interval: None,
            blacklist_refresh: Window::seconds(10),
            counts_refresh: Window::seconds(1),
            count_timeout: Duration::from_millis(500),
            sqlite_wal: true,
            fast_commits: true,
        }
    }
}

impl Settings {
    /// How long hourly buckets are kept: `keep_hourly_buckets`, or the hit
    /// log's retention when that is longer.
    ///
    /// ```
    /// use hitcount::{Settings, Window};
    ///
    /// let mut settings = Settings::default();
    /// assert_eq!(settings.hourly_retention(), Window::days(30));
    /// settings.keep_hourly_buckets = Window::days(90);
    /// assert_eq!(settings.hourly_retention(), Window::days(90));
    /// ```
    pub fn hourly_retention(&self) -> Window {
        self.keep_hourly_buckets.max(self.keep_hit_in_database)
    }

    /// Checks the values that each make sense alone but not together, or
    /// that no type can rule out. The error names the key and the value.
    ///
    /// ```
    /// use hitcount::{Settings, Window};
    ///
    /// let mut settings = Settings::default();
    /// settings.keep_hit_in_database = Window::days(1);
    /// let err = settings.validate().unwrap_err();
    /// assert!(err.to_string().contains("keep_hit_in_database"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        let fail = |key, value: String, reason: &str| {
            Err(Error::Setting {
                key,
                value,
                reason: reason.to_owned(),
            })
        };
        if self.keep_hit_active.as_secs() == 0 {
            return fail(
                "keep_hit_active",
                quoted(self.keep_hit_active),
                "must be longer than zero, or every request would count",
            );
        }
        check_retention(self.keep_hit_in_database, self.keep_hit_active)?;
        if self.keep_hourly_buckets < Window::days(1) {
            return fail(
                "keep_hourly_buckets",
                quoted(self.keep_hourly_buckets),
                "must be at least a day: a window's first day is read by the hour",
            );
        }
        if self.hits_per_ip_limit > 0 && self.ip_storage == IpStorage::None {
            return fail(
                "hits_per_ip_limit",
                self.hits_per_ip_limit.to_string(),
                "needs the IP in the hit log, but ip_storage is \"none\"",
            );
        }
        if self.private_hit_log && self.keep_hit_active < Window::days(1) {
            return fail(
                "keep_hit_active",
                quoted(self.keep_hit_active),
                "must be at least a day with private_hit_log, which counts a visitor once per object and day",
            );
        }
        if self.private_hit_log && self.ip_storage != IpStorage::None {
            return fail(
                "ip_storage",
                serde_json::to_string(&self.ip_storage).expect("a name"),
                "must be \"none\" with private_hit_log: the hit log keeps nothing that tells visitors apart",
            );
        }
        if let Some(group) = self.exclude_user_groups.iter().find(|g| g.trim().is_empty()) {
            return fail(
                "exclude_user_groups",
                format!("{group:?}"),
                "group names must not be empty",
            );
        }
        if matches!(&self.ip_hash_key, Some(key) if key.len() < 16) {
            return fail(
                "ip_hash_key",
                "(hidden)".to_owned(),
                "must be at least 16 characters long",
            );
        }
        if self.cleanup_interval.is_some_and(|w| w.as_chrono().is_zero()) {
            return fail(
                "cleanup_interval",
                quoted(Window::seconds(0)),
                "must be longer than zero (leave it out to run no background cleanup)",
            );
        }
        if self.count_timeout.is_zero() || self.count_timeout > Duration::from_secs(60) {
            return fail(
                "count_timeout",
                format!("\"{}\"", humantime::format_duration(self.count_timeout)),
                "must be longer than zero and at most a minute",
            );
        }
        check_batch_size(self.cleanup_batch_size)
    }
}

/// A hit log must be kept at least as long as hits stay active, or
/// cleanup would delete hits that still block recounts. Checked for the
/// setting and for every cleanup run with its own `keep`.
pub(crate) fn check_retention(keep: Window, active: Window) -> Result<()> {
    if keep < active {
        return Err(Error::Setting {
            key: "keep_hit_in_database",
            value: quoted(keep),
            reason: format!(
                "must be at least keep_hit_active ({active}): cleanup would delete hits that are still active"
            ),
        });
    }
    Ok(())
}

/// Cleanup deletes at least one row per statement.
pub(crate) fn check_batch_size(batch_size: u32) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::Setting {
            key: "cleanup_batch_size",
            value: "0".to_owned(),
            reason: "must be at least 1".to_owned(),
        });
    }
    Ok(())
}

fn quoted(window: Window) -> String {
    format!("\"{window}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        let settings: Settings = toml::from_str(text).map_err(|e| e.to_string())?;
        settings.validate().map_err(|e| e.to_string())?;
        Ok(settings)
    }

    #[test]
    fn defaults_are_django_hitcounts_plus_privacy() {
        let s = Settings::default();
        assert_eq!(s.keep_hit_active, Window::days(7));
        assert_eq!(s.hits_per_ip_limit, 0);
        assert_eq!(s.hits_per_ip_scope, IpLimitScope::Site);
        assert!(s.exclude_user_groups.is_empty());
        assert_eq!(s.keep_hit_in_database, Window::days(30));
        assert_eq!(s.ip_storage, IpStorage::Hashed);
        assert_eq!(s.bots, BotPolicy::Separate);
        assert!(!s.respect_do_not_track);
        assert_eq!(parse("").unwrap(), s);
        s.validate().unwrap();
    }

    #[test]
    fn every_key_reads_from_toml() {
        let s = parse(
            r#"
            keep_hit_active = "1 day"
            hits_per_ip_limit = 5
            hits_per_ip_scope = "object"
            exclude_user_groups = ["Admin", "Staff"]
            keep_hit_in_database = { days = 60 }
            ip_storage = "masked"
            ip_hash_key = "0123456789abcdef0123"
            bots = "ignore"
            respect_do_not_track = true
            cleanup_batch_size = 500
            blacklist_refresh = "1 minute"
            "#,
        )
        .unwrap();
        assert_eq!(s.keep_hit_active, Window::days(1));
        assert_eq!(s.hits_per_ip_limit, 5);
        assert_eq!(s.hits_per_ip_scope, IpLimitScope::Object);
        assert_eq!(s.exclude_user_groups, ["Admin", "Staff"]);
        assert_eq!(s.keep_hit_in_database, Window::days(60));
        assert_eq!(s.ip_storage, IpStorage::Masked);
        assert_eq!(s.ip_hash_key.as_deref(), Some("0123456789abcdef0123"));
        assert_eq!(s.bots, BotPolicy::Ignore);
        assert!(s.respect_do_not_track);
        assert_eq!(s.cleanup_batch_size, 500);
        assert_eq!(s.blacklist_refresh, Window::minutes(1));
    }

    /// Each invalid setting fails with a message naming the key and the value.
    #[test]
    fn invalid_settings_name_key_and_value() {
        for (text, key, value) in [
            ("keep_hit_active = \"7 dayz\"", "keep_hit_active", "7 dayz"),
            ("keep_hit_active = \"0 days\"", "keep_hit_active", "seconds=0"),
            (
                "keep_hit_in_database = \"1 day\"",
                "keep_hit_in_database",
                "days=1",
            ),
            ("hits_per_ip_limit = -1", "hits_per_ip_limit", "-1"),
            ("ip_storage = \"partial\"", "ip_storage", "partial"),
            (
                "ip_storage = \"none\"\nhits_per_ip_limit = 3",
                "hits_per_ip_limit",
                "3",
            ),
            ("private_hit_log = true", "ip_storage", "hashed"),
            (
                "private_hit_log = true\nip_storage = \"none\"\nkeep_hit_active = \"12 hours\"",
                "keep_hit_active",
                "hours=12",
            ),
            (
                "private_hit_log = true\nip_storage = \"masked\"",
                "ip_storage",
                "masked",
            ),
            ("bots = \"maybe\"", "bots", "maybe"),
            ("hits_per_ip_scope = \"planet\"", "hits_per_ip_scope", "planet"),
            ("exclude_user_groups = [\"\"]", "exclude_user_groups", "\"\""),
            ("ip_hash_key = \"short\"", "ip_hash_key", "hidden"),
            ("cleanup_batch_size = 0", "cleanup_batch_size", "0"),
            (
                "keep_hourly_buckets = \"12 hours\"",
                "keep_hourly_buckets",
                "hours=12",
            ),
            ("respect_do_not_track = \"yes\"", "respect_do_not_track", "yes"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
            assert!(err.contains(value), "{text}: {err}");
        }
    }
}
