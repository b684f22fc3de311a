//! Blacklists of IPs and user agents: kept in the database, matched in
//! memory, reloaded when they change.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Serialize;

use crate::counter::HitCounter;
use crate::error::{invalid, Result};
use crate::ip::parse_ip;
use crate::store::Db;
use crate::visitor::clean_user_agent;

/// A snapshot of both blacklists, ready for matching.
#[derive(Debug, Default)]
pub(crate) struct Blacklists {
    /// Addresses and hashed IPs, matched exactly.
    exact_ips: HashSet<String>,
    /// CIDR networks.
    networks: Vec<IpNet>,
    user_agents: HashSet<String>,
}

impl Blacklists {
    pub(crate) fn new(
        ips: impl IntoIterator<Item = String>,
        user_agents: impl IntoIterator<Item = String>,
    ) -> Blacklists {
        let mut lists = Blacklists {
            user_agents: user_agents.into_iter().collect(),
            ..Blacklists::default()
        };
        for entry in ips {
            match entry.parse::<IpNet>() {
                Ok(net) => lists.networks.push(net),
                Err(_) => {
                    lists.exact_ips.insert(entry);
                }
            }
        }
        lists
    }

    /// Whether `ip`, whose hit-log form is `stored`, is blacklisted: as an
    /// address, inside a network, or by the stored form (a hashed IP
    /// blacklisted from a hit).
    pub(crate) fn blocks_ip(&self, ip: IpAddr, stored: Option<&str>) -> bool {
        self.lists_stored_ips()
            && (self.exact_ips.contains(&ip.to_string())
                || stored.is_some_and(|s| self.exact_ips.contains(s)))
            || self.networks.iter().any(|net| net.contains(&ip))
    }

    /// Whether any entry could match an IP's stored form (one IP, in
    /// clear or hashed): [`Blacklists::blocks_ip`] needs that form only then.
    pub(crate) fn lists_stored_ips(&self) -> bool {
        !self.exact_ips.is_empty()
    }

    /// Whether the (already truncated) user agent is blacklisted.
    pub(crate) fn blocks_user_agent(&self, user_agent: &str) -> bool {
        self.user_agents.contains(user_agent)
    }
}

/// The blacklists of one app instance: served from memory, checked against
/// the database's version number every `blacklist_refresh`, and reloaded
/// at once after a change made through this instance.
pub(crate) struct BlacklistCache {
    current: RwLock<Arc<Blacklists>>,
    version: AtomicI64,
    next_check: Mutex<Instant>,
    interval: Duration,
}

impl BlacklistCache {
    pub(crate) async fn load(db: &Db, interval: Duration) -> Result<BlacklistCache> {
        let cache = BlacklistCache {
            current: RwLock::new(Arc::default()),
            version: AtomicI64::new(-1),
            next_check: Mutex::new(Instant::now() + interval),
            interval,
        };
        cache.reload(db).await?;
        Ok(cache)
    }

    /// The blacklists to match against, reloaded first if another instance
    /// changed them and the check is due. One request per interval pays
    /// for the version check; the others go on with the snapshot they have.
    pub(crate) async fn current(&self, db: &Db) -> Result<Arc<Blacklists>> {
        let due = {
            let mut next = self.next_check.lock().expect("not poisoned");
            let now = Instant::now();
            let due = now >= *next;
            if due {
                *next = now + self.interval;
            }
            due
        };
        if due {
            // Boxed: every request awaits `current`, and the statements
            // would make its future a kilobyte to move around.
            Box::pin(self.reload_if_changed(db)).await?;
        }
        Ok(self.current.read().expect("not poisoned").clone())
    }

    async fn reload_if_changed(&self, db: &Db) -> Result<()> {
        let version = dispatch!(db, pool, sql => {
            sqlx::query_scalar::<_, i64>(sql.blacklist_version).fetch_one(pool).await?
        });
        if version != self.version.load(Ordering::Acquire) {
            self.reload(db).await?;
        }
        Ok(())
    }

    pub(crate) async fn reload(&self, db: &Db) -> Result<()> {
        let (version, ips, agents) = dispatch!(db, pool, sql => {
            let version: i64 = sqlx::query_scalar(sql.blacklist_version).fetch_one(pool).await?;
            let ips: Vec<(String, DateTime<Utc>)> = sqlx::query_as(sql.blacklisted_ips).fetch_all(pool).await?;
            let agents: Vec<(String, DateTime<Utc>)> =
                sqlx::query_as(sql.blacklisted_user_agents).fetch_all(pool).await?;
            (version, ips, agents)
        });
        let lists = Blacklists::new(ips.into_iter().map(|r| r.0), agents.into_iter().map(|r| r.0));
        // Two reloads can overlap (a periodic one and one after a local
        // change): the older snapshot must not replace the newer.
        let mut current = self.current.write().expect("not poisoned");
        if version >= self.version.load(Ordering::Acquire) {
            *current = Arc::new(lists);
            self.version.store(version, Ordering::Release);
        }
        Ok(())
    }

    /// Makes the next request reload, after a change whose reload failed.
    fn invalidate(&self) {
        self.version.store(-1, Ordering::Release);
        *self.next_check.lock().expect("not poisoned") = Instant::now();
    }
}

/// One blacklist entry and when it was added.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
/// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
/// counter.blacklist_ip("203.0.113.9").await?;
/// let entries = counter.blacklisted_ips().await?;
/// assert_eq!(entries[0].value, "203.0.113.9");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BlacklistEntry {
    /// The IP, network, hashed IP or user agent.
    pub value: String,
    /// When it was blacklisted.
    pub created_at: DateTime<Utc>,
}

/// Which blacklist an operation is about.
#[derive(Clone, Copy)]
pub(crate) enum List {
    Ips,
    UserAgents,
}

/// Normalises an IP blacklist entry typed by a person: an address, a CIDR
/// network, or a hashed IP copied from the hit log.
fn normalize_ip_entry(text: &str) -> Result<String> {
    if let Ok(ip) = parse_ip(text) {
        return Ok(ip.to_string());
    }
    if let Ok(net) = text.parse::<IpNet>() {
        let net = net.trunc();
        return Ok(if net.prefix_len() == net.max_prefix_len() {
            net.addr().to_string()
        } else {
            net.to_string()
        });
    }
    if text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Ok(text.to_owned());
    }
    Err(invalid(
        "blacklist IP",
        text,
        "expected an IP address, a network such as 192.0.2.0/24, or a hashed IP from the hit log",
    ))
}

fn normalize_user_agent_entry(text: &str) -> Result<String> {
    if text.is_empty() {
        return Err(invalid("blacklist user agent", text, "must not be empty"));
    }
    Ok(clean_user_agent(text))
}

impl HitCounter {
    /// Blacklists an IP address, a CIDR network (`192.0.2.0/24`) or a
    /// hashed IP as shown in the hit log. Adding an entry twice is harmless.
    /// Returns whether the entry is new.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert!(counter.blacklist_ip("192.0.2.0/24").await?);
    /// assert!(!counter.blacklist_ip("192.0.2.0/24").await?);
    /// assert!(counter.blacklist_ip("not an ip").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn blacklist_ip(&self, ip: &str) -> Result<bool> {
        let entry = normalize_ip_entry(ip)?;
        Ok(self.change_blacklist(List::Ips, &[entry], true).await? == 1)
    }

    /// Blacklists a user agent (cut to 255 characters, like the user agents
    /// it is compared with). Returns whether the entry is new.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert!(counter.blacklist_user_agent("EvilBot/1.0").await?);
    /// assert!(counter.blacklist_user_agent("").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn blacklist_user_agent(&self, user_agent: &str) -> Result<bool> {
        let entry = normalize_user_agent_entry(user_agent)?;
        Ok(self.change_blacklist(List::UserAgents, &[entry], true).await? == 1)
    }

    /// Removes an IP entry. Returns whether it was there.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// counter.blacklist_ip("203.0.113.9").await?;
    /// assert!(counter.unblacklist_ip("203.0.113.9").await?);
    /// assert!(!counter.unblacklist_ip("203.0.113.9").await?);
    /// # Ok(()) }
    /// ```
    pub async fn unblacklist_ip(&self, ip: &str) -> Result<bool> {
        let entry = normalize_ip_entry(ip)?;
        Ok(self.change_blacklist(List::Ips, &[entry], false).await? == 1)
    }

    /// Removes a user agent entry. Returns whether it was there.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert!(!counter.unblacklist_user_agent("EvilBot/1.0").await?);
    /// # Ok(()) }
    /// ```
    pub async fn unblacklist_user_agent(&self, user_agent: &str) -> Result<bool> {
        let entry = normalize_user_agent_entry(user_agent)?;
        Ok(self.change_blacklist(List::UserAgents, &[entry], false).await? == 1)
    }

    /// The IP blacklist, oldest entry first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// assert!(counter.blacklisted_ips().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn blacklisted_ips(&self) -> Result<Vec<BlacklistEntry>> {
        self.list_blacklist(List::Ips).await
    }

    /// The user agent blacklist, oldest entry first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> hitcount::Result<()> {
    /// # let counter = hitcount::HitCounter::open(hitcount::Db::connect("sqlite::memory:").await?, Default::default()).await?;
    /// counter.blacklist_user_agent("EvilBot/1.0").await?;
    /// assert_eq!(counter.blacklisted_user_agents().await?[0].value, "EvilBot/1.0");
    /// # Ok(()) }
    /// ```
    pub async fn blacklisted_user_agents(&self) -> Result<Vec<BlacklistEntry>> {
        self.list_blacklist(List::UserAgents).await
    }

    async fn list_blacklist(&self, list: List) -> Result<Vec<BlacklistEntry>> {
        let rows: Vec<(String, DateTime<Utc>)> = dispatch!(self.db(), pool, sql => {
            let statement = match list {
                List::Ips => sql.blacklisted_ips,
                List::UserAgents => sql.blacklisted_user_agents,
            };
            sqlx::query_as(statement).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(value, created_at)| BlacklistEntry { value, created_at })
            .collect())
    }

    /// Adds (or removes) normalised entries in one transaction that also
    /// bumps the blacklist version, then reloads this instance's cache.
    /// Returns how many rows changed.
    pub(crate) async fn change_blacklist(&self, list: List, entries: &[String], add: bool) -> Result<u64> {
        let now = self.now();
        let changed = dispatch!(self.writer(), pool, sql => {
            let mut tx = pool.begin().await?;
            sqlx::query(sql.bump_blacklist_version).execute(&mut *tx).await?;
            let statement = match (list, add) {
                (List::Ips, true) => sql.add_blacklisted_ip,
                (List::Ips, false) => sql.remove_blacklisted_ip,
                (List::UserAgents, true) => sql.add_blacklisted_user_agent,
                (List::UserAgents, false) => sql.remove_blacklisted_user_agent,
            };
            let mut changed = 0;
            for entry in entries {
                let query = sqlx::query(statement).bind(entry);
                let query = if add { query.bind(now) } else { query };
                changed += query.execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            changed
        });
        // The change is committed: a failed reload must not report it as
        // failed, only make the next request reload.
        if self.blacklist_cache().reload(self.db()).await.is_err() {
            self.blacklist_cache().invalidate();
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_normalised_or_rejected() {
        for (input, expected) in [
            ("192.0.2.1", Some("192.0.2.1")),
            ("::ffff:192.0.2.1", Some("192.0.2.1")),
            ("2001:DB8::1", Some("2001:db8::1")),
            ("192.0.2.77/24", Some("192.0.2.0/24")),
            ("192.0.2.1/32", Some("192.0.2.1")),
            ("2001:db8::/32", Some("2001:db8::/32")),
            (
                "0123456789abcdef0123456789abcdef",
                Some("0123456789abcdef0123456789abcdef"),
            ),
            ("", None),
            ("localhost", None),
            ("192.0.2.1/33", None),
            ("0123456789ABCDEF0123456789ABCDEF", None),
            ("192.0.2.1 ", None),
        ] {
            let got = normalize_ip_entry(input);
            match expected {
                Some(want) => assert_eq!(got.unwrap(), want, "{input}"),
                None => {
                    let err = got.unwrap_err().to_string();
                    assert!(err.contains(&format!("{input:?}")), "{err}");
                }
            }
        }
    }

    #[test]
    fn matching() {
        let lists = Blacklists::new(
            ["192.0.2.1".to_string(), "198.51.100.0/24".into(), "abc".into()],
            ["EvilBot/1.0".to_string()],
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(lists.blocks_ip(ip("192.0.2.1"), None));
        assert!(!lists.blocks_ip(ip("192.0.2.2"), None));
        assert!(lists.blocks_ip(ip("198.51.100.200"), None));
        assert!(lists.blocks_ip(ip("203.0.113.1"), Some("abc")));
        assert!(lists.blocks_user_agent("EvilBot/1.0"));
        assert!(!lists.blocks_user_agent("EvilBot/1.0 "));
    }
}
